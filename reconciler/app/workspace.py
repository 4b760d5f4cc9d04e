"""A spec repository (where reconciler.yaml is, what it says, where its state lives), what
commands read from outside (the environment, the sandbox), and the specs as desired runs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import TypeAdapter

from reconciler.app.collection import bulk_allocation
from reconciler.app.forked import MAX_PROCESSES, Forked, cores
from reconciler.engine.desired import DesiredRun, desired_run
from reconciler.engine.identity import canonical_json
from reconciler.errors import Problem, StateError, UsageError
from reconciler.providers.credentials import resolve
from reconciler.providers.hosts import AllowedHost
from reconciler.providers.registry import provider_types
from reconciler.source.load import load_config
from reconciler.source.specs import (
    LoadedSpec,
    SpecBatch,
    checked_specs,
    read_spec_batch,
    spec_files,
)
from reconciler.spec.models import Config, DesiredState, StateBackend
from reconciler.spec.runs import RunStatus
from reconciler.state.files import StateFiles, check_state_files
from reconciler.state.model import Lockfile, RunRecord

if TYPE_CHECKING:
    import httpx

    from reconciler.state.pgstore import PgStore
    from reconciler.state.store import StateStore

T = TypeVar("T")

# The one variable of reconciler's own a state reference may name (the others, such as
# RECONCILER_PLAN_KEY, are refused as credentials).
DSN_VARIABLE = "RECONCILER_PG_DSN"


@dataclass(frozen=True)
class Workspace:
    """A spec repository: where reconciler.yaml is, and what it says."""

    root: Path
    config: Config
    config_path: Path
    state: StateFiles
    # Where a state's credential reference (state.dsn) is resolved.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The desired runs last read, by the spec files' fingerprint (load_desired).
    _desired: dict[tuple[object, ...], list[DesiredRun]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def lockfile(self) -> Path:
        return self.state.lockfile

    @property
    def journal(self) -> Path:
        return self.state.journal

    @property
    def state_in_database(self) -> bool:
        """The state is in PostgreSQL; the lockfile, if committed, is a snapshot of it."""
        return self.config.state.backend is StateBackend.POSTGRES

    @cached_property
    def store(self) -> StateStore:
        """The configured store; for PostgreSQL, the DSN resolved now (not at open: commands
        that read no state, such as validate, need no database)."""
        settings = self.config.state
        if settings.backend is StateBackend.FILE or settings.dsn is None:
            # Imported here: the journal and the lock (and asyncio) are for commands that
            # read or write the state, not validate's start-up.
            from reconciler.state.filestore import FileStore

            return FileStore(self.state)
        store = postgres_store(settings.dsn, root=self.root, environ=self.environ)
        store.lease_seconds = float(settings.lease)
        return store

    @property
    def database(self) -> PgStore | None:
        """The store when the state is in PostgreSQL, for what only a database holds (the
        notification ledger's table, `watch`'s replicas); None with the file store."""
        if not self.state_in_database:
            return None
        from reconciler.state.pgstore import PgStore  # already imported by ``store``

        store = self.store
        assert isinstance(store, PgStore)
        return store

    def state_files(self, what: str) -> StateFiles:
        """The lockfile and journal, for what works on them alone (``what``); refused when the
        state is in PostgreSQL."""
        if self.config.state.backend is not StateBackend.FILE:
            raise UsageError(
                f"{what} works on the lockfile, and reconciler.yaml keeps the state in "
                "PostgreSQL (state: backend: postgres)"
            )
        return self.state


def postgres_store(reference: str, *, root: Path, environ: Mapping[str, str]) -> PgStore:
    """A PostgreSQL store at the DSN ``reference`` names, by the credential rules (a file in
    the credential directories, a variable not the CI platform's); never naming the value."""
    from reconciler.state.pgstore import PgStore  # psycopg only for this backend

    found = resolve({"dsn": reference}, root=root, environ=environ, permitted=(DSN_VARIABLE,))
    why = found.why("dsn")
    if why is not None:
        raise StateError(f"the state's DSN (state.dsn in reconciler.yaml): {why}")
    return PgStore(found.values["dsn"])


@dataclass(frozen=True)
class Environment:
    """What commands read from outside: the environment, the sandbox, a transport for tests."""

    environ: Mapping[str, str]
    sandbox_url: str | None = None
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    # Hosts credentials may go to besides each type's own (--allow-host, $RECONCILER_ALLOW_HOSTS).
    allowed_hosts: tuple[AllowedHost, ...] = ()


def open_workspace(
    config_path: Path, lockfile: Path | None = None, environ: Mapping[str, str] | None = None
) -> Workspace:
    """The repository of ``config_path``; ``lockfile`` (``--lockfile``) overrides the
    configured one and may lie outside the repository. ``environ`` resolves ``state.dsn``."""
    config = load_config(config_path, provider_types())
    root = config_path.resolve().parent
    if lockfile is not None and config.state.backend is not StateBackend.FILE:
        raise UsageError(
            "--lockfile names a state file, and reconciler.yaml keeps the state in PostgreSQL "
            "(state: backend: postgres)"
        )
    if lockfile is None:
        state = StateFiles(root / config.lockfile)
    else:
        state = StateFiles(Path(os.path.abspath(lockfile)), chosen_outside=True)
    check_state_files(root, state)
    return Workspace(
        root=root, config=config, config_path=config_path, state=state, environ=environ or {}
    )


def load_desired(ws: Workspace) -> list[DesiredRun]:
    """The specs as desired runs; read once while no spec file changes (``--sandbox`` checks
    them before its sandbox writes anything, then the command plans from them; ``watch``
    reads again only what a commit or an edit changed)."""
    return begin_desired(ws).runs()


def begin_desired(ws: Workspace, *, here: bool = True) -> DesiredReading:
    """``load_desired``, begun now: a large repository's spec files are shared out among
    forked processes at once (``here=False``: all of them, so that this process is free to
    wait on APIs meanwhile), their results collected by ``runs``."""
    paths, outside = spec_files(ws.root, ws.config.specs)  # walked once: key and read
    found = _stats(paths)  # and each file's stat taken once: key and shares
    key = _fingerprint(paths, found)
    cached = ws._desired.get(key)
    if cached is not None:
        return DesiredReading(ws, key, outside, None, cached)
    ws._desired.clear()
    forked = _read_specs(ws, paths, _sizes(found), _desired, here)
    return DesiredReading(ws, key, outside, forked, None)


def count_valid_specs(ws: Workspace) -> int:
    """``validate``: every spec read and checked as for ``load_desired`` (one InputError with
    every problem), none made into a desired run (revisions and keys are for planning)."""
    paths, outside = spec_files(ws.root, ws.config.specs)
    reading = _read_specs(ws, paths, _sizes(_stats(paths)), _name, here=True)
    with bulk_allocation():
        return len(checked_specs(ws.root, ws.config, reading.results(), outside))


def _read_specs(
    ws: Workspace,
    paths: Sequence[Path],
    sizes: Sequence[int],
    made: Callable[[LoadedSpec], T],
    here: bool,
) -> Forked[Sequence[Path], SpecBatch[T]]:
    providers = provider_types()
    root, config = ws.root, ws.config

    def read(part: Sequence[Path]) -> SpecBatch[T]:
        return read_spec_batch(root, config, providers, part, made)

    with bulk_allocation():  # the children read without the cycle collector too
        return Forked(read, _parts(paths, sizes), here=here)


def _desired(spec: LoadedSpec) -> DesiredRun:
    return desired_run(
        spec.run,
        job=spec.job,
        provider_type=spec.provider.name,
        file=spec.file,
        scope=spec.scope,
        traits=spec.provider.traits,
    )


def _name(spec: LoadedSpec) -> str:
    return spec.run.metadata.name


@dataclass
class DesiredReading:
    """Desired runs being read (``begin_desired``)."""

    ws: Workspace
    key: tuple[object, ...]
    outside: list[Problem]  # spec files not read: outside the repository, or not files
    forked: Forked[Sequence[Path], SpecBatch[DesiredRun]] | None
    done: list[DesiredRun] | None

    def close(self) -> None:
        """The reading given up: its processes stopped."""
        if self.forked is not None:
            self.forked.close()

    def runs(self) -> list[DesiredRun]:
        """The desired runs, sorted by name; or one InputError with every problem."""
        if self.done is None:
            assert self.forked is not None
            with bulk_allocation():
                batches = self.forked.results()
                self.done = checked_specs(self.ws.root, self.ws.config, batches, self.outside)
            self.ws._desired[self.key] = self.done
        return list(self.done)


def _stats(paths: Sequence[Path]) -> list[os.stat_result | None]:
    """Each file's stat; None for one that cannot be stat'ed now (told when it is read)."""
    found: list[os.stat_result | None] = []
    for path in paths:
        try:
            found.append(path.stat())
        except OSError:
            found.append(None)
    return found


def _sizes(stats: Sequence[os.stat_result | None]) -> list[int]:
    return [0 if info is None else info.st_size for info in stats]


def _fingerprint(
    files: Sequence[Path], stats: Sequence[os.stat_result | None]
) -> tuple[object, ...]:
    """Each spec file's identity, size and modification time: what changes with its text."""
    found: list[object] = []
    for path, info in zip(files, stats, strict=True):
        if info is None:
            return (object(),)  # unreadable now: read again, and report it
        found.append((str(path), info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(found)


# Spec files are shared out among processes by their bytes, at least this many to each: a
# part is ~60 ms of parsing and validating, well above forking and pickling (issue 20).
MIN_BYTES_PER_PROCESS = 256 * 1024


def _parts(paths: Sequence[Path], sizes: Sequence[int]) -> list[Sequence[Path]]:
    """The files (of ``sizes`` bytes) in runs of about equal bytes, one to a process (in the
    order given, so that problems come in it), none smaller than ``MIN_BYTES_PER_PROCESS``."""
    total = sum(sizes)
    count = max(1, min(cores(), MAX_PROCESSES, total // MIN_BYTES_PER_PROCESS))
    parts: list[Sequence[Path]] = []
    start, taken = 0, 0
    for index, size in enumerate(sizes):
        taken += size
        if taken * count >= total * (len(parts) + 1) and len(parts) < count - 1:
            parts.append(paths[start : index + 1])
            start = index + 1
    parts.append(paths[start:])
    return parts


# Entries dumped in one call: few calls, and no dump of them all at once (issue 20).
_DIGEST_BATCH = 1000


@cache
def _desired_list() -> TypeAdapter[list[DesiredRun]]:
    return TypeAdapter(list[DesiredRun])  # built when first used: not at validate's start


@cache
def _named_records() -> TypeAdapter[list[tuple[str, RunRecord]]]:
    return TypeAdapter(list[tuple[str, RunRecord]])


def specs_digest(config: Config, desired: Sequence[DesiredRun]) -> str:
    """Digest of what a saved plan was made from: the config (references only, never
    secrets) and every spec, in order. A plan applies only with the release that made it, so
    the digest is of pydantic's JSON of the desired runs, a thousand at a time (100,000 specs:
    ~0.5 s, where canonical JSON with sorted keys took ~1.7 s)."""
    digest = hashlib.sha256(_canonical(config.model_dump(mode="json")))
    for start in range(0, len(desired), _DIGEST_BATCH):
        digest.update(_desired_list().dump_json(list(desired[start : start + _DIGEST_BATCH])))
    return digest.hexdigest()


def lockfile_digest(lock: Lockfile) -> str:
    """Digest of the state a saved plan was made from: its content, not its formatting (the
    records by name, each as pydantic writes it; the rest in canonical JSON)."""
    digest = hashlib.sha256(_canonical(lock.model_dump(mode="json", exclude={"runs"})))
    names = sorted(lock.runs)
    for start in range(0, len(names), _DIGEST_BATCH):
        batch = [(name, lock.runs[name]) for name in names[start : start + _DIGEST_BATCH]]
        digest.update(_named_records().dump_json(batch))
    return digest.hexdigest()


def _canonical(value: object) -> bytes:
    return canonical_json(value).encode()


def scopes(lock: Lockfile, desired: Sequence[DesiredRun]) -> dict[str, set[str]]:
    """Per instance, the scopes (job definitions, pipelines) whose runs can matter now: each
    one a spec or a record uses, but one where every record is of a run that succeeded and
    every spec asks for no more than it (``completed``, of the same key, no schedule, no
    ``after``). A run that succeeded stays so, as a finished Kubernetes Job is not watched again:
    listing it (Runner: a call per job definition) would tell nothing (issue 20). With
    ``desired`` empty (the lockfile's scopes, listed while the specs load), the scopes of
    records that have not succeeded; those of the specs come after them."""
    used: dict[tuple[str, str], bool] = {}  # place -> settled: nothing there to observe
    for record in lock.runs.values():
        if record.scope is not None:
            place = (record.instance, record.scope)
            used[place] = used.get(place, True) and _completed(record)
    for spec in desired:
        if spec.scope is not None:
            place = (spec.instance, spec.scope)
            used[place] = used.get(place, True) and _asks_no_more(spec, lock.runs.get(spec.name))
    found: dict[str, set[str]] = {}
    for (instance, scope), settled in used.items():
        if not settled:
            found.setdefault(instance, set()).add(scope)
    return found


def _completed(record: RunRecord) -> bool:
    return (
        record.status is RunStatus.SUCCEEDED
        and record.run_id is not None
        and record.prior_runs is None
        and record.claimed_at is None
    )


def _asks_no_more(spec: DesiredRun, record: RunRecord | None) -> bool:
    """``spec`` is done with ``record``, a run that succeeded, whatever the provider says."""
    return (
        record is not None
        and _completed(record)
        and record.key == spec.key
        and record.instance == spec.instance
        and spec.state is DesiredState.COMPLETED
        and spec.schedule is None
        and not spec.after
    )


def used_instances(ws: Workspace, lock: Lockfile, desired: Sequence[DesiredRun]) -> list[str]:
    names = {d.instance for d in desired} | {r.instance for r in lock.runs.values()}
    return sorted(n for n in names if n in ws.config.providers)
