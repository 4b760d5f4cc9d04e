"""Orchestration of the commands: load, observe, plan, apply, show.

The only module that combines files, providers and the engine. The CLI calls it with plain
arguments (including the environment), and renders what it returns.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from reconciler import __version__
from reconciler.engine.apply import (
    ApplyResult,
    Pacing,
    apply_plan,
    fold_result,
    snapshot_scope,
    unsendable_starts,
)
from reconciler.engine.config_review import ConfigChange, review_config, withheld_instances
from reconciler.engine.desired import DesiredRun, desired_run
from reconciler.engine.identity import canonical_json
from reconciler.engine.observe import observe
from reconciler.engine.plan import Action, ActionKind, Plan, plan_actions
from reconciler.engine.records import new_record
from reconciler.engine.seal import seal_problem, sealed
from reconciler.errors import (
    ApplyError,
    ApplyInterrupted,
    InputError,
    Problem,
    ReconcilerError,
    StalePlanError,
    StateError,
    UsageError,
    did_you_mean,
)
from reconciler.providers.base import Provider, ProviderContext, ProviderType
from reconciler.providers.credentials import resolve
from reconciler.providers.hosts import AllowedHost, parse_allowed_host, refusal
from reconciler.providers.registry import provider_types
from reconciler.source.load import (
    config_problem,
    display_path,
    load_config,
    load_specs,
    provider_options,
)
from reconciler.source.trusted import load_trusted_config
from reconciler.source.yaml import Locator
from reconciler.spec.models import Config, ProviderInstance
from reconciler.state.document import read_json_document
from reconciler.state.files import StateFiles, check_state_files
from reconciler.state.filestore import FileStore
from reconciler.state.model import Lockfile, RunRecord
from reconciler.state.provenance import read_source
from reconciler.state.store import LockedState, StateStore

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, with the result passed outside the main task: at exit, asyncio's SIGINT
    handling formats the task's repr, result included, and a 1,000-run plan is costly to format."""
    box: list[T] = []

    async def main() -> None:
        box.append(await coroutine)

    asyncio.run(main())
    return box[0]


# Used under --sandbox for a reference that cannot be resolved; shaped as a JWT (header
# {"alg":"none","typ":"JWT"}, payload {"sub":"sandbox"}) so that bearer-JWT emulators take it.
SANDBOX_CREDENTIAL = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJzYW5kYm94In0.sandbox"


@dataclass(frozen=True)
class Workspace:
    """A spec repository: where reconciler.yaml is, and what it says."""

    root: Path
    config: Config
    config_path: Path
    state: StateFiles

    @property
    def lockfile(self) -> Path:
        return self.state.lockfile

    @property
    def journal(self) -> Path:
        return self.state.journal

    @property
    def store(self) -> StateStore:
        return FileStore(self.state)


@dataclass(frozen=True)
class Environment:
    """What commands read from outside: the environment, the sandbox, a transport for tests."""

    environ: Mapping[str, str]
    sandbox_url: str | None = None
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    # Hosts credentials may go to besides each type's own (--allow-host, $RECONCILER_ALLOW_HOSTS).
    allowed_hosts: tuple[AllowedHost, ...] = ()


def open_workspace(config_path: Path, lockfile: Path | None = None) -> Workspace:
    """The repository of ``config_path``; ``lockfile`` (``--lockfile``) overrides the
    configured one and may lie outside the repository."""
    config = load_config(config_path, provider_types())
    root = config_path.resolve().parent
    if lockfile is None:
        state = StateFiles(root / config.lockfile)
    else:
        state = StateFiles(Path(os.path.abspath(lockfile)), chosen_outside=True)
    check_state_files(root, state)
    return Workspace(root=root, config=config, config_path=config_path, state=state)


def load_desired(ws: Workspace) -> list[DesiredRun]:
    specs = load_specs(ws.root, ws.config, provider_types())
    return [
        desired_run(
            s.run,
            job=s.job,
            provider_type=s.provider.name,
            file=s.file,
            scope=s.scope,
            traits=s.provider.traits,
        )
        for s in specs
    ]


def specs_digest(config: Config, desired: Sequence[DesiredRun]) -> str:
    """Digest of what a saved plan was made from: the config (references only, never
    secrets) and every spec."""
    text = canonical_json(
        {
            "config": config.model_dump(mode="json"),
            "specs": [d.model_dump(mode="json") for d in desired],
        }
    )
    return hashlib.sha256(text.encode()).hexdigest()


def lockfile_digest(lock: Lockfile) -> str:
    """Digest of the state a saved plan was made from (its content, not its formatting)."""
    return hashlib.sha256(canonical_json(lock.model_dump(mode="json")).encode()).hexdigest()


@asynccontextmanager
async def open_providers(
    ws: Workspace, env: Environment, instances: Sequence[str] | None = None
) -> AsyncIterator[dict[str, Provider]]:
    """Adapters for the configured instances; credentials resolved here, kept in memory.

    Every instance is checked (references, and the hosts its credentials would go to) before
    any adapter exists, so a refused one stops the command before any request.
    """
    types = provider_types()
    shared = _shared_references(ws.config, types)
    contexts: list[tuple[ProviderType, ProviderContext]] = []
    problems: list[Problem] = []
    locator = Locator()
    for name, instance in ws.config.providers.items():
        used = instances is None or name in instances
        provider_type = types[instance.type]
        context, reasons = _checked_context(
            env, ws.root, name, instance, provider_type, shared, used
        )
        problems += [_instance_problem(ws, locator, name, key, why) for key, why in reasons.items()]
        if used:
            contexts.append((provider_type, context))
    if problems:
        raise InputError(problems)
    providers = {context.instance: kind.create(context) for kind, context in contexts}
    try:
        yield providers
    finally:
        await asyncio.gather(*(p.aclose() for p in providers.values()))


def _checked_context(
    env: Environment,
    root: Path,
    name: str,
    instance: ProviderInstance,
    provider_type: ProviderType,
    shared: Mapping[str, set[str]],
    used: bool,
) -> tuple[ProviderContext, dict[str, str]]:
    """The instance's adapter context, and why (by key path) it may not have one."""
    found = resolve(instance.credentials, root=root, environ=env.environ)
    refused = {**found.refused, **_shared_reasons(instance, shared)}
    # Hostile input is refused everywhere; absence matters only where the instance is used.
    values, unresolved, allowed = found.values, found.unresolved if used else {}, env.allowed_hosts
    if env.sandbox_url is not None:
        if unresolved:  # the type's primary credentials, all from the sandbox: no half sets
            keys = provider_type.credential_keys or tuple(instance.credentials)
            values, unresolved = dict.fromkeys(keys, SANDBOX_CREDENTIAL), {}
        instance = provider_type.for_sandbox(instance, env.sandbox_url)
        allowed = (*allowed, parse_allowed_host(urlsplit(env.sandbox_url).netloc))
    reasons = {f"credentials.{key}": why for key, why in {**unresolved, **refused}.items()}
    reasons.update(_host_refusals(provider_type, instance, allowed))
    options = provider_options(provider_type, instance) if used else None
    return ProviderContext(name, instance, values, env.transport, options), reasons


def _instance_problem(ws: Workspace, locator: Locator, name: str, key: str, why: str) -> Problem:
    return config_problem(ws.config_path, locator, ["providers", name, *key.split(".")], why)


def _host_refusals(
    provider_type: ProviderType, instance: ProviderInstance, allowed: Sequence[AllowedHost]
) -> dict[str, str]:
    """Each URL of the instance that would carry a credential to a host not allowed."""
    urls = provider_type.credential_urls(instance)
    reasons = {
        key: refusal(url, provider_type.production_hosts, allowed) for key, url in urls.items()
    }
    return {key: why for key, why in reasons.items() if why}


def _shared_references(config: Config, types: Mapping[str, ProviderType]) -> dict[str, set[str]]:
    """The provider types using each credential reference."""
    users: dict[str, set[str]] = {}
    for instance in config.providers.values():
        for reference in instance.credentials.values():
            users.setdefault(reference, set()).add(types[instance.type].name)
    return users


def _shared_reasons(instance: ProviderInstance, users: Mapping[str, set[str]]) -> dict[str, str]:
    """A reference also used by another provider type would send one provider's secret to
    another (e.g. a Vonage JWT to Matatika): refused wherever it appears."""
    return {
        key: f"{reference} is also used by provider type "
        f"{', '.join(sorted(users[reference] - {instance.type}))}; "
        "a credential goes to one provider type only"
        for key, reference in instance.credentials.items()
        if len(users[reference]) > 1
    }


async def make_plan(
    ws: Workspace,
    providers: Mapping[str, Provider],
    lock: Lockfile,
    desired: Sequence[DesiredRun],
    *,
    targets: Sequence[str] = (),
    config_review: tuple[ConfigChange, ...] = (),
) -> Plan:
    """Observe every instance the specs or the lockfile use, then plan (pure). Instances
    withheld by ``config_review`` (pull-request mode) are not among ``providers``."""
    observation = await observe(providers, lock, _scopes(lock, desired))
    now = max([datetime.now(UTC), *(t for t in observation.server_time.values() if t)])
    chosen = [d for d in desired if not targets or d.name in targets]
    planned = plan_actions(
        chosen,
        lock,
        observation.runs,
        now=now,
        prune=ws.config.prune,
        unreachable={**observation.errors, **withheld_instances(config_review)},
    )
    actions = [a for a in planned.actions if not targets or a.name in targets]
    return Plan(
        reconciler_version=__version__,
        source=read_source(ws.root, [*ws.config.specs, ws.config_path.name]),
        created_at=now,
        lineage=lock.lineage,
        serial=lock.serial,
        lockfile_digest=lockfile_digest(lock),
        specs_digest=specs_digest(ws.config, desired),
        prune=ws.config.prune,
        targets=tuple(targets),
        records=planned.records,
        actions=tuple(actions),
        observed_at=observation.server_time,
        refresh_calls={name: p.calls for name, p in providers.items()},
        config_review=config_review,
    )


def _scopes(lock: Lockfile, desired: Sequence[DesiredRun]) -> dict[str, set[str]]:
    scopes: dict[str, set[str]] = {}
    for place in [
        *((d.instance, d.scope) for d in desired),
        *((r.instance, r.scope) for r in lock.runs.values()),
    ]:
        if place[1] is not None:
            scopes.setdefault(place[0], set()).add(place[1])
    return scopes


def used_instances(ws: Workspace, lock: Lockfile, desired: Sequence[DesiredRun]) -> list[str]:
    names = {d.instance for d in desired} | {r.instance for r in lock.runs.values()}
    return sorted(n for n in names if n in ws.config.providers)


def plan_command(
    ws: Workspace,
    env: Environment,
    *,
    targets: Sequence[str] = (),
    trusted_ref: str | None = None,
) -> Plan:
    """The plan; with ``trusted_ref`` (pull-request mode), provider instances whose
    configuration differs from that revision's are withheld: no credential, no refresh."""
    review = trusted_review(ws, trusted_ref) if trusted_ref is not None else ()
    desired = load_desired(ws)
    _check_targets(desired, targets)
    lock = ws.store.read()
    return run_sync(_observe_and_plan(ws, env, lock, desired, targets, review))


def trusted_review(ws: Workspace, trusted_ref: str) -> tuple[ConfigChange, ...]:
    trusted = load_trusted_config(ws.root, trusted_ref, ws.config_path.name, provider_types())
    return review_config(trusted, ws.config)


async def _observe_and_plan(
    ws: Workspace,
    env: Environment,
    lock: Lockfile,
    desired: Sequence[DesiredRun],
    targets: Sequence[str] = (),
    config_review: tuple[ConfigChange, ...] = (),
) -> Plan:
    withheld = withheld_instances(config_review)
    instances = [n for n in used_instances(ws, lock, desired) if n not in withheld]
    async with open_providers(ws, env, instances) as providers:
        return await make_plan(
            ws, providers, lock, desired, targets=targets, config_review=config_review
        )


def _check_targets(desired: Sequence[DesiredRun], targets: Sequence[str]) -> None:
    names = {d.name for d in desired}
    unknown = [t for t in targets if t not in names]
    if unknown:
        raise InputError(
            [
                Problem("--target", None, None, "", f"no spec named {t!r}{did_you_mean(t, names)}")
                for t in unknown
            ]
        )


def apply_failures(plan: Plan, result: ApplyResult) -> list[str]:
    """One line per failed action, one for the actions an interrupt left, then the refresh's
    failures (``refresh_failures``)."""
    failures = [f"{a.kind.value} {a.name}: {message}" for a, message in result.failures]
    if result.not_begun:
        names = sorted(a.name for a in result.not_begun)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        failures.append(
            f"interrupted: {len(names)} action(s) not begun ({shown}); apply again to perform them"
        )
    return failures + refresh_failures(plan)


@contextmanager
def _graceful_interrupts(interrupted: asyncio.Event) -> Iterator[None]:
    """SIGINT or SIGTERM during an apply (Ctrl-C, a cancelled CI job): the first one lets no
    new action begin, while those under way finish and are recorded, as Terraform does; a
    second one stops at once (the journal keeps what was under way for the next command)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}

    def on_signal() -> None:
        if interrupted.is_set() and task is not None:
            task.cancel()
            return
        interrupted.set()
        sys.stderr.write(
            "\nInterrupted: no new action begins; finishing the ones under way "
            "(interrupt again to stop at once).\n"
        )

    installed = []
    try:
        for signum in previous:
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
    except (ValueError, RuntimeError, NotImplementedError):
        pass  # not the main thread, or Windows: signals act as they did
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous[signum])


def refresh_failures(plan: Plan) -> list[str]:
    """One line per instance that could not be observed (its specs were left as they are)."""
    by_instance: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    for action in plan.errors:
        if action.instance in plan.withheld:  # shown for review, not a failure
            continue
        by_instance.setdefault(action.instance, []).append(action.name)
        reasons[action.instance] = action.reason
    return [
        f"refresh of {instance} failed, {len(names)} spec(s) left as they are: {reasons[instance]}"
        for instance, names in sorted(by_instance.items())
    ]


def read_plan(path: Path) -> Plan:
    return read_json_document(path, Plan, display_path(path), version_field="format_version")


# The key that signs saved plans (HMAC-SHA256); with it set, apply takes only signed plans.
PLAN_KEY_VARIABLE = "RECONCILER_PLAN_KEY"


def plan_key(environ: Mapping[str, str]) -> bytes | None:
    """The plan signing key, if set. Set but empty is refused rather than read as unset: a CI
    secret that failed to resolve must not turn signature checks off."""
    value = environ.get(PLAN_KEY_VARIABLE)
    if value is None:
        return None
    if not value:
        raise UsageError(f"{PLAN_KEY_VARIABLE} is set but empty: set the signing key, or unset it")
    return value.encode()


def seal_plan(plan: Plan, environ: Mapping[str, str]) -> Plan:
    """The plan to save: with its digest, and signed when the environment holds the key."""
    return sealed(plan, plan_key(environ))


# A storage fault after actions loses nothing: the journal holds them until the lockfile does.
_JOURNAL_KEPT = "; what this apply did is kept in the journal, and the next command replays it"


# A record's fields that a refresh may change: the rest is what started the run, and comes
# from the lockfile or, for a run adopted by its key, from the spec.
_OBSERVED_FIELDS = frozenset(
    {"run_id", "status", "api_status", "started_at", "ended_at", "prior_runs", "claimed_at"}
)


@dataclass
class ApplySession:
    """An apply in progress: holds the state lock from planning to the lockfile write."""

    ws: Workspace
    env: Environment
    state: LockedState
    lock: Lockfile
    desired: list[DesiredRun]
    notices: list[str] = field(default_factory=list)

    def plan(self, *, targets: Sequence[str] = ()) -> Plan:
        _check_targets(self.desired, targets)
        return run_sync(_observe_and_plan(self.ws, self.env, self.lock, self.desired, targets))

    def check_saved(self, plan: Plan, display: str) -> None:
        """A saved plan applies only as it was made (its seal), to the state and specs it was
        made from, and only with actions those specs and that state lead to."""
        self._check_release(plan)
        untrusted = seal_problem(plan, plan_key(self.env.environ))
        if untrusted is None:
            self._check_fresh(plan)
            untrusted = self._unfounded(plan)
        if untrusted is not None:
            raise InputError([Problem(display, None, None, "", f"saved plan refused: {untrusted}")])

    def _check_release(self, plan: Plan) -> None:
        if plan.reconciler_version != __version__:
            raise StalePlanError(
                f"the saved plan was made by reconciler {plan.reconciler_version}, and this is "
                f"{__version__}: a plan applies only with the release that made it; "
                "run `reconciler plan` again"
            )

    def _check_fresh(self, plan: Plan) -> None:
        reasons = []
        if plan.lineage != self.lock.lineage or plan.serial != self.lock.serial:
            reasons.append(self._lockfile_change(plan))
        elif plan.lockfile_digest != lockfile_digest(self.lock):
            reasons.append("the lockfile was edited since the plan was made (same serial)")
        if plan.specs_digest != specs_digest(self.ws.config, self.desired):
            reasons.append("reconciler.yaml or the specs changed since the plan was made")
        if reasons:
            raise StalePlanError(
                f"saved plan is stale: {'; '.join(reasons)}; run `reconciler plan` again"
            )

    def _unfounded(self, plan: Plan) -> str | None:
        """What in a (fresh, intact) plan its specs and lockfile cannot have led to, if any.

        Re-derived independently of the seal, so that even a plan re-sealed by someone without
        the key cannot start a job the specs do not ask for, stop a run the state does not
        hold, or rewrite the records. Not re-derived: what the refresh observed."""
        wanted = {d.name: d for d in self.desired}
        missing = sorted(self.lock.runs.keys() - plan.records.keys())
        if missing:
            return f"the lockfile's record of {missing[0]} is missing from it"
        for name, record in plan.records.items():
            if not self._founded_record(record, wanted.get(name)):
                return f"its record of {name} is neither the lockfile's nor its spec's"
        for action in plan.actions:
            wrong = _unfounded_action(action, wanted.get(action.name), plan.records)
            if wrong is not None:
                return f"its {action.kind.value} of {action.name} {wrong}"
        return None

    def _founded_record(self, record: RunRecord, wanted: DesiredRun | None) -> bool:
        """As the lockfile has it (refreshed), or a run adopted by its spec's key."""
        made = record.model_dump(exclude=set(_OBSERVED_FIELDS))
        recorded = self.lock.runs.get(record.name)
        if recorded is not None and made == recorded.model_dump(exclude=set(_OBSERVED_FIELDS)):
            return recorded.run_id is None or recorded.run_id == record.run_id
        if wanted is None or record.run_id is None:
            return False
        adopted = new_record(wanted, attempt=record.attempt, failures=0)
        return made == adopted.model_dump(exclude=set(_OBSERVED_FIELDS))

    def _lockfile_change(self, plan: Plan) -> str:
        if plan.lineage and plan.lineage != self.lock.lineage:
            return "the lockfile belongs to another lineage"
        before = f"serial {plan.serial}" if plan.lineage else "no lockfile"
        return (
            f"the lockfile changed since the plan was made ({before} -> serial {self.lock.serial})"
        )

    def execute(self, plan: Plan) -> ApplyResult:
        """Perform the plan and record what did happen, failures included
        (``apply_failures`` lists them)."""
        self.state.check_writable()
        try:
            result = run_sync(self._apply(plan))
        except asyncio.CancelledError:  # a second interrupt (_graceful_interrupts)
            raise ApplyInterrupted(
                "interrupted twice: stopped at once; the journal keeps the starts that were "
                "under way, and the next command adopts them"
            ) from None
        self._record(plan, result)
        return result

    def claim(self, plan: Plan) -> int:
        """Write the plan's starts into the lockfile as claims (no run id yet), so that other
        appliers who see them wait instead of starting the same runs. The number claimed."""
        starts = [a for a in plan.actions if a.desired is not None and a.attempt is not None]
        if not starts:
            return 0
        snapshots = run_sync(self._snapshots(starts))
        now = datetime.now(UTC)
        runs = dict(plan.records)
        for action in starts:
            assert action.desired is not None
            assert action.attempt is not None
            record = new_record(
                action.desired,
                attempt=action.attempt,
                failures=action.failures,
                prior_runs=snapshots.get(action.name),
            )
            runs[action.name] = record.model_copy(update={"claimed_at": now})
        self._write(self.lock.model_copy(update={"runs": dict(sorted(runs.items()))}))
        return len(starts)

    async def _snapshots(self, starts: Sequence[Action]) -> dict[str, list[str]]:
        """Run ids of each keyless start's scope, as a start would snapshot them."""
        keyless = [a for a in starts if a.desired is not None and not a.desired.traits.keyed]
        if not keyless:
            return {}
        async with open_providers(self.ws, self.env, self._instances()) as providers:
            return {
                a.name: await snapshot_scope(providers[a.instance], a.desired.scope)
                for a in keyless
                if a.desired is not None
            }

    def _write(self, lock: Lockfile) -> None:
        self.lock = self.state.write(lock)

    async def _apply(self, plan: Plan) -> ApplyResult:
        # As many actions under way as calls may be: an interrupt leaves that many to finish.
        under_way = {name: p.concurrency for name, p in self.ws.config.providers.items()}
        pacing = Pacing(under_way, asyncio.Event())
        async with open_providers(self.ws, self.env, self._instances()) as providers:
            unsendable = unsendable_starts(plan.actions, providers)
            if unsendable:  # before the first action, and before a journal exists
                raise ApplyError(unsendable)
            with self.state.journal() as journal, _graceful_interrupts(pacing.interrupted):
                return await apply_plan(plan, providers, journal, pacing)

    def record_refresh(self, plan: Plan) -> None:
        """With nothing to do, keep the lockfile as it is unless a recorded status moved."""
        if plan.records != self.lock.runs:
            self._record(plan, ApplyResult(records=dict(plan.records)))

    def _record(self, plan: Plan, result: ApplyResult) -> None:
        try:
            self._write(fold_result(self.lock, result.records, plan.observed_at, plan.source))
        except StateError as exc:
            journaled = result.failures or any(a.kind.calls_api for a in result.done)
            if not journaled:
                raise
            raise StateError(f"{exc}{_JOURNAL_KEPT}") from None
        self.state.clear_journal()

    def _instances(self) -> list[str]:
        return used_instances(self.ws, self.lock, self.desired)


def _unfounded_action(
    action: Action, wanted: DesiredRun | None, records: Mapping[str, RunRecord]
) -> str | None:
    """Why ``action`` is not one the planner makes from these specs and records, if so."""
    if action.kind in (ActionKind.START, ActionKind.RETRY, ActionKind.REPLACE):
        if wanted is None or action.desired != wanted or action.attempt is None:
            return "is not what the specs ask for"
        if action.instance != wanted.instance:
            return f"names instance {action.instance}, and its spec {wanted.instance}"
    if action.kind in (ActionKind.STOP, ActionKind.REPLACE):
        record = records.get(action.name)
        if record is None or record.run_id is None or record.run_id != action.run_id:
            return f"names run {action.run_id}, which is not the run recorded for it"
        if action.stop_reason is None:
            return "gives no reason to stop"
    if action.kind is ActionKind.STOP and action.instance != records[action.name].instance:
        return f"names instance {action.instance}, and its record another"
    return None


@contextmanager
def apply_session(
    ws: Workspace, env: Environment, command: str, *, lock_timeout: float = 0.0
) -> Iterator[ApplySession]:
    with ws.store.locked(command, timeout=lock_timeout) as state:
        recovered = state.recover()
        session = ApplySession(ws, env, state, state.read(), load_desired(ws))
        if state.taken_over is not None:
            session.notices.append(
                f"the state lock of {state.taken_over} was stale: its holder is gone; taken over"
            )
        if recovered:
            session.notices.append("an interrupted apply left a journal: replayed first")
        yield session


@dataclass(frozen=True)
class ShowRow:
    name: str
    instance: str
    run_id: str | None
    attempt: int
    recorded: str
    live: str
    api_status: str | None
    started_at: datetime | None
    spec_file: str | None
    details: str | None = None
    commit: str | None = None
    revision: str = ""
    run_key: str = ""
    stop_reason: str | None = None


def show_command(ws: Workspace, env: Environment, name: str | None = None) -> list[ShowRow]:
    """Each recorded run (or the one of spec ``name``) beside its live status, and the
    provider's account of it, if any."""
    lock = ws.store.read()
    if name is not None and name not in lock.runs:  # before any credential is needed
        suggestion = did_you_mean(name, lock.runs)
        raise UsageError(f"the lockfile records no run for {name!r}{suggestion}")
    return run_sync(_show(ws, env, lock, [name] if name else sorted(lock.runs)))


async def _show(ws: Workspace, env: Environment, lock: Lockfile, names: list[str]) -> list[ShowRow]:
    async with open_providers(ws, env, used_instances(ws, lock, [])) as providers:
        plan = await make_plan(ws, providers, lock, [])
        details = await asyncio.gather(
            *(_details(providers, plan.records.get(name, lock.runs[name])) for name in names)
        )
    rows = []
    for name, detail in zip(names, details, strict=True):
        recorded = lock.runs[name]
        live = plan.records.get(name, recorded)
        rows.append(
            ShowRow(
                name=name,
                instance=recorded.instance,
                run_id=live.run_id,
                attempt=live.attempt,
                recorded=recorded.status.value,
                live=live.status.value,
                api_status=live.api_status,
                started_at=live.started_at,
                spec_file=recorded.spec_file,
                details=detail,
                commit=live.commit,
                revision=live.revision,
                run_key=live.run_key,
                stop_reason=live.stop_reason.value if live.stop_reason else None,
            )
        )
    return rows


async def _details(providers: Mapping[str, Provider], record: RunRecord) -> str | None:
    provider = providers.get(record.instance)
    if provider is None or record.run_id is None:
        return None
    try:
        return await provider.details(record.run_id)
    except ReconcilerError as exc:
        return f"(unavailable: {exc})"
