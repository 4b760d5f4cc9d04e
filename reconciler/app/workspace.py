"""A spec repository (where reconciler.yaml is, what it says, where its state lives), what
commands read from outside (the environment, the sandbox), and the specs as desired runs."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.engine.desired import DesiredRun, desired_run
from reconciler.engine.identity import canonical_json
from reconciler.providers.hosts import AllowedHost
from reconciler.providers.registry import provider_types
from reconciler.source.load import (
    load_config,
    load_specs,
)
from reconciler.spec.models import Config
from reconciler.state.files import StateFiles, check_state_files
from reconciler.state.filestore import FileStore
from reconciler.state.model import Lockfile
from reconciler.state.store import StateStore

if TYPE_CHECKING:
    import httpx


if TYPE_CHECKING:
    import httpx


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


def scopes(lock: Lockfile, desired: Sequence[DesiredRun]) -> dict[str, set[str]]:
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
