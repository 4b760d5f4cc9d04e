from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from reconciler import gitops
from reconciler.app.metrics import Health, WatchMetrics
from reconciler.app.notify import Event, Notifier, events, ledger_for, targets, unowned_events
from reconciler.app.runtime import Runtime
from reconciler.app.session import apply_session, converge
from reconciler.app.shards import membership_for, shard_targets
from reconciler.app.status_server import StatusServer, Webhook
from reconciler.app.webhook import webhook_secret as _webhook_secret
from reconciler.app.workspace import Environment, Workspace
from reconciler.commands.common import lock_timeout_option
from reconciler.commands.options import EXIT_OK, Options, pass_options
from reconciler.engine.actions import ActionKind, Plan
from reconciler.engine.apply import ApplyResult
from reconciler.errors import ApplyInterrupted, ReconcilerError, UsageError
from reconciler.state.lock import command_line

if TYPE_CHECKING:
    from reconciler.state.pgreplicas import Membership, Unowned


@click.command()
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),  # a zero or negative interval would hammer the APIs
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Time between the starts of two cycles.",
)
@click.option("--pull", is_flag=True, help="git pull --ff-only before each cycle.")
@click.option(
    "--listen",
    metavar="[HOST:]PORT",
    help="Serve /healthz, /readyz and Prometheus /metrics there (HOST defaults to 127.0.0.1).",
)
@click.option(
    "--webhook-secret",
    metavar="REF",
    help="With --listen: accept POST /api/webhook from a git host holding this secret "
    "(env:NAME or file:PATH), and begin a cycle at once.",
)
@click.option(
    "--notify",
    "notify",
    multiple=True,
    metavar="FORMAT=REF",
    help="Send each failed run, exhausted retry, missed occurrence, drift and (replicas) "
    "unowned provider instance once, to the URL REF holds (env:NAME or file:PATH): FORMAT "
    "webhook (JSON) or slack (repeatable).",
)
@lock_timeout_option(default=30.0)
@pass_options
def watch(
    options: Options,
    interval: float,
    pull: bool,
    listen: str | None,
    webhook_secret: str | None,
    notify: tuple[str, ...],
    lock_timeout: float,
) -> int:
    """Reconcile continuously: plan and apply every interval, without asking.

    Keeps `running` specs running, starts and stops runs as windows open and close, stops runs
    past their timeout. One JSON line per cycle on stdout; a failed cycle is logged and the
    loop goes on. SIGTERM or SIGINT ends it after the current cycle, with exit code 0.

    With --listen: /healthz answers 503 when one cycle has run for more than 10 intervals
    (at least 15 minutes), /readyz 503 until a cycle ends ok, after one ends in errors, and
    while shutting down; /metrics has the counters the README lists. With --webhook-secret
    too, POST /api/webhook verified by that secret (GitHub's X-Hub-Signature-256, GitLab's
    X-Gitlab-Token) begins a cycle now.

    With the state in PostgreSQL, run as many as you like: they share the provider instances
    out between them (each cycle's line says which are this one's) and take over those of one
    that stops or dies; an instance none worked on for longer than an interval and a lease is
    told ("unowned" in the line, and once with --notify).
    """
    address = _address(listen) if listen is not None else None
    if webhook_secret is not None and address is None:
        raise UsageError("--webhook-secret needs --listen: the webhook is served there")
    ws = options.workspace()
    metrics = WatchMetrics()
    health = Health(stuck_after=max(10 * interval, 900.0))
    stop = threading.Event()
    wake = _Wake()  # ends the wait between cycles: a webhook, a rebalance, or a stop

    def request_stop(signum: int, frame: FrameType | None) -> None:
        health.stopping = True
        stop.set()
        wake("stop")

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with contextlib.ExitStack() as stack:
            env = stack.enter_context(options.environment(ws))
            # One runtime for the process: a login or token grant serves every cycle.
            runtime = stack.enter_context(Runtime())
            if address is not None:
                secret = (
                    _webhook_secret(webhook_secret, root=ws.root, environ=env.environ)
                    if webhook_secret is not None
                    else None
                )
                hook = Webhook(secret, lambda: wake("webhook")) if secret is not None else None
                stack.enter_context(StatusServer(*address, metrics, health, hook))
            notifier = (
                Notifier(targets(notify, root=ws.root, environ=env.environ), ledger_for(ws))
                if notify
                else None
            )
            if notifier is not None:
                stack.callback(notifier.close)
            membership = membership_for(ws)
            if membership is not None:
                membership.start(lambda: wake("rebalance"))
                stack.callback(_leave, membership)
            watcher = _Watcher(
                options, env, runtime, pull, lock_timeout, stop, metrics, membership, interval
            )
            cycle, trigger = 0, "start"
            while not stop.is_set():
                cycle += 1
                began = time.monotonic()
                health.cycle_began()
                line, plan = watcher.cycle(cycle)
                if notifier is not None:
                    found = events(plan) if plan is not None else []
                    _notify(notifier, found + unowned_events(watcher.unowned), line, metrics)
                health.cycle_ended(line["status"] == "ok")
                click.echo(json.dumps({**line, "trigger": trigger}))
                trigger = wake.wait(max(0.0, interval - (time.monotonic() - began)))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return EXIT_OK


class _Wake:
    """What ends the wait between cycles early, and why (the next cycle's trigger)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reason = "interval"

    def __call__(self, reason: str) -> None:
        self._reason = reason
        self._event.set()

    def wait(self, seconds: float) -> str:
        woken = self._event.wait(seconds)
        self._event.clear()
        return self._reason if woken else "interval"


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {listen}: expected [HOST:]PORT with a port from 1 to 65535")
    return host.strip("[]") or "127.0.0.1", int(port)


_FAILURES = (ActionKind.FAILED, ActionKind.RETRY)


@dataclass
class _Watcher:
    options: Options
    env: Environment
    runtime: Runtime
    pull: bool
    lock_timeout: float
    stop: threading.Event
    metrics: WatchMetrics
    membership: Membership | None  # a replica of a PostgreSQL state: its shards only
    interval: float
    unowned: list[Unowned] = field(default_factory=list)  # as of the last cycle

    def cycle(self, cycle: int) -> tuple[dict[str, Any], Plan | None]:
        began = time.monotonic()
        line: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "cycle": cycle,
        }
        plan: Plan | None = None
        result: ApplyResult | None = None
        self.unowned = []
        try:
            if self.pull:
                gitops.pull(self.options.config.resolve().parent)
            ws = self.options.workspace()  # specs may have changed since the last cycle
            targets: list[str] = []
            if self.membership is not None:
                shards, targets = shard_targets(ws, self.membership)
                line["shards"] = shards
                # Before this cycle works on its own: a replica back after all were down
                # tells how long its instances went unowned.
                self._look_for_unowned(self.membership, line)
            if self.membership is None or targets:
                plan, result = self._apply(ws, targets, line)
            else:
                line.update(actions={}, status="ok")  # none of the specs is on its shards
        except ApplyInterrupted as exc:  # interrupted twice during the apply: stop now
            line.update(status="error", errors=exc.lines())
            self.stop.set()
        except ReconcilerError as exc:
            line.update(status="error", errors=exc.lines())
        line["seconds"] = round(time.monotonic() - began, 3)
        self.metrics.observe_cycle(line["status"], line["seconds"], plan, result)
        self.metrics.observe_traffic(self.runtime.providers.adapters())
        return line, plan

    def _apply(
        self, ws: Workspace, targets: list[str], line: dict[str, Any]
    ) -> tuple[Plan, ApplyResult | None]:
        with apply_session(
            ws,
            self.env,
            command_line(),
            lock_timeout=self.lock_timeout,
            runtime=self.runtime,
            targets=targets,
        ) as session:
            if self.membership is not None:  # its instances' leases are this replica's now
                self.membership.worked_on(line["shards"])
            plan = session.plan(targets=targets)
            line["actions"] = dict(Counter(a.kind.value for a in plan.actions))
            failed = {a.name: a.reason for a in plan.actions if a.kind in _FAILURES}
            if failed:  # why, as the providers said: ASCII JSON, so inert
                line["failed"] = failed
            line["api_calls"] = plan.refresh_calls
            outcome = converge(session, plan)
            if outcome.result is not None and outcome.result.interrupted:
                self.stop.set()  # the signal reached the apply, not our handler
            if outcome.failures:
                line["errors"] = outcome.failures
            self.metrics.observe_state(session.lock)
        line["status"] = "error" if outcome.failures else "ok"
        return plan, outcome.result

    def _look_for_unowned(self, membership: Membership, line: dict[str, Any]) -> None:
        """Instances no replica has worked on for longer than an interval and a lease (and
        whose lease no one holds): told in the line, the metrics, and once by notification."""
        after = self.interval + membership.store.lease_seconds
        unowned = membership.unowned(membership.instances, after)
        self.metrics.observe_shards(membership.instances, line["shards"], len(unowned))
        if unowned:
            line["unowned"] = {u.instance: round(u.seconds, 1) for u in unowned}
            self.unowned = unowned


def _leave(membership: Membership) -> None:
    """Hand this replica's shards over now; if the database is gone, its row expires."""
    with contextlib.suppress(ReconcilerError):
        membership.leave()


def _notify(
    notifier: Notifier, found: list[Event], line: dict[str, Any], metrics: WatchMetrics
) -> None:
    """Send what this cycle has to tell; a failed send is logged, not fatal."""
    try:
        sent, failures = notifier.notify(found, line["ts"])
    except ReconcilerError as exc:  # the ledger cannot be read or written
        sent, failures = 0, exc.lines()
    metrics.notifications.labels("sent").inc(sent)
    metrics.notifications.labels("failed").inc(len(failures))
    if sent:
        line["notified"] = sent
    if failures:
        line["notify_errors"] = failures
