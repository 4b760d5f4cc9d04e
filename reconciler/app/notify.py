"""`watch --notify`: what people need to know, sent once per event to a generic webhook (JSON)
or a Slack incoming webhook.

Events are read off each cycle's plan: a run failed (and will be retried), retries exhausted,
an occurrence (or a window) missed, drift found; and, for replicas of a PostgreSQL state, off
the shards table: a provider instance no replica has worked on for too long. Each has a key
naming what happened (the spec and the failed run, the missed time, ...), claimed in a ledger
(``state.ledger``) per target before it is sent: a failed run that stays failed for a hundred
cycles, a restart, or another replica seeing it too sends nothing more. A send that fails is
released and tried again by a later cycle. Strings from specs and providers go out inert for
each medium.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from reconciler.engine.actions import Action, ActionKind, Plan
from reconciler.errors import UsageError
from reconciler.inert import json_text, slack_text
from reconciler.providers.credentials import resolve
from reconciler.providers.http import transport_reason
from reconciler.state.ledger import FileLedger, Ledger

if TYPE_CHECKING:
    from reconciler.app.workspace import Workspace
    from reconciler.state.pgreplicas import Unowned

URL_VARIABLE = "RECONCILER_NOTIFY_URL"  # the one variable of reconciler's own allowed
FORMATS = ("webhook", "slack")
TIMEOUT = 10.0


@dataclass(frozen=True)
class Event:
    kind: str  # run_failed, retries_exhausted, occurrence_missed, window_missed, drift,
    # shard_unowned
    spec: str  # "" for an event of a provider instance (shard_unowned)
    instance: str
    summary: str  # one line: what happened
    run_id: str | None = None
    key: str = ""  # what makes it this event, and no other


@dataclass(frozen=True)
class Target:
    format: str
    url: str = field(repr=False)  # a credential: a Slack webhook URL holds its token

    @property
    def id(self) -> str:
        return hashlib.sha256(f"{self.format} {self.url}".encode()).hexdigest()[:12]


def events(plan: Plan) -> list[Event]:
    found: list[Event] = []
    for action in plan.actions:
        record = plan.records.get(action.name)
        run_id = record.run_id if record is not None else None
        found.extend(_events(action, run_id))
    return found


def unowned_events(unowned: Sequence[Unowned]) -> list[Event]:
    """A provider instance no `watch` replica works on, once per time it was last worked on."""
    return [
        Event(
            "shard_unowned",
            "",
            u.instance,
            f"no replica has worked on it for {u.seconds:.0f}s (last: replica {u.replica} on "
            f"{u.host})",
            key=f"shard_unowned:{u.instance}:{u.worked_at.isoformat()}",
        )
        for u in unowned
    ]


def _events(action: Action, run_id: str | None) -> list[Event]:
    def event(kind: str, summary: str, *identity: object, run: str | None = None) -> Event:
        key = ":".join(str(part) for part in (kind, action.name, *identity))
        return Event(kind, action.name, action.instance, summary, run, key)

    if action.kind is ActionKind.RETRY and run_id is not None:
        return [event("run_failed", f"run {run_id} failed; {action.reason}", run_id, run=run_id)]
    if action.kind is ActionKind.FAILED:
        return [event("retries_exhausted", action.reason, run_id, run=run_id)]
    if action.kind is ActionKind.DRIFT:
        return [event("drift", action.reason, run_id, action.reason, run=run_id)]
    if action.kind is ActionKind.MISSED:
        note = action.schedule
        if note is not None and note.missed:
            return [
                event(
                    "occurrence_missed",
                    f"occurrence {m.at.isoformat()} missed: {m.reason}",
                    m.at.isoformat(),
                )
                for m in note.missed
            ]
        return [event("window_missed", action.reason, action.reason)]
    return []


def ledger_for(ws: Workspace) -> Ledger:
    """The state's own ledger: a table beside a PostgreSQL state (shared by its replicas), or
    a file in the repository's `.reconciler/` (one process)."""
    database = ws.database
    if database is not None:
        from reconciler.state.pgledger import PgLedger  # psycopg only for this backend

        return PgLedger(database)
    return FileLedger(ws.root / ".reconciler" / "notified.json")


def targets(references: Sequence[str], *, root: Path, environ: Mapping[str, str]) -> list[Target]:
    """``--notify FORMAT=REF`` options as targets: each URL resolved by the credential rules
    and sent to over https only (http on loopback, for tests and local relays)."""
    found = []
    for option in references:
        kind, _, reference = option.partition("=")
        if kind not in FORMATS or not reference.startswith(("env:", "file:")):
            raise UsageError(
                f"--notify {option.split('=')[0]}=…: expected webhook=REF or slack=REF, REF "
                "being env:NAME or file:PATH (the URL is a credential, never given literally)"
            )
        resolved = resolve(
            {"url": reference}, root=root, environ=environ, permitted=(URL_VARIABLE,)
        )
        why = resolved.why("url")
        if why is not None:
            raise UsageError(f"--notify {kind}={reference}: {why}")
        url = resolved.values["url"]
        if not _sendable(url):
            raise UsageError(
                f"--notify {kind}={reference}: the URL it holds is not https (http only to a "
                "loopback address)"
            )
        found.append(Target(kind, url))
    return found


def _sendable(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return parts.hostname == "localhost"


def payload(target: Target, event: Event, ts: str) -> dict[str, object]:
    if target.format == "slack":
        instance = slack_text(event.instance)
        where = f"`{slack_text(event.spec)}` on {instance}" if event.spec else instance
        title = event.kind.replace("_", " ")
        return {"text": f"reconciler: {title}: {where}: {slack_text(event.summary)}"}
    return {
        "event": event.kind,
        "spec": json_text(event.spec) if event.spec else None,
        "instance": json_text(event.instance),
        "run_id": json_text(event.run_id) if event.run_id is not None else None,
        "summary": json_text(event.summary),
        "key": json_text(event.key),
        "ts": ts,
    }


@dataclass
class Notifier:
    targets: Sequence[Target]
    ledger: Ledger
    client: httpx.Client = field(
        default_factory=lambda: httpx.Client(timeout=TIMEOUT, follow_redirects=False)
    )

    def notify(self, found: Sequence[Event], ts: str) -> tuple[int, list[str]]:
        """Send each event not sent before to each target; how many were sent, and a line
        per failed send (tried again by a later cycle)."""
        sent, failures = 0, []
        down: set[str] = set()  # targets that failed this time: the rest wait for the next
        for event in found:
            for target in self.targets:
                key = f"{target.id}:{event.key}"
                if target.id in down or not self.ledger.claim(key):
                    continue
                try:
                    response = self.client.post(target.url, json=payload(target, event, ts))
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    self.ledger.release(key)
                    why = (
                        f"answered {exc.response.status_code}"
                        if isinstance(exc, httpx.HTTPStatusError)
                        else transport_reason(exc)
                    )
                    what = f"{event.kind} {event.spec or event.instance}"
                    failures.append(f"notify {target.format} of {what}: {why}")
                    down.add(target.id)
                    continue
                self.ledger.sent(key)
                sent += 1
        return sent, failures

    def close(self) -> None:
        self.client.close()
        self.ledger.close()
