"""A spec repository (where reconciler.yaml is, what it says, where its state lives), and
what commands read from outside (the environment, the sandbox). Its specs are read by
``app.spec_reading`` and ``app.desired``; what a refresh lists is ``app.scopes``; a saved
plan's digests are ``app.digests``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import StateError, UsageError
from reconciler.providers.credentials import resolve
from reconciler.providers.hosts import AllowedHost
from reconciler.providers.registry import provider_types
from reconciler.source.load import load_config
from reconciler.spec.models import Config, StateBackend
from reconciler.state.files import StateFiles, check_state_files

if TYPE_CHECKING:
    import httpx

    from reconciler.engine.desired import DesiredRun
    from reconciler.state.pgstore import PgStore
    from reconciler.state.store import StateStore

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
    # The desired runs last read, by the spec files' fingerprint (app.desired.load_desired).
    desired_cache: dict[tuple[object, ...], list[DesiredRun]] = field(
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
