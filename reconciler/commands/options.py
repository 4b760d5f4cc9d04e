"""The global options every command receives, and the exit codes: what the CLI's start-up
needs, importing nothing heavier than click (a command imports the rest when it runs)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.errors import InputError, Problem, StateError, display_path
from reconciler.providers.hosts import AllowedHost
from reconciler.render.style import PLAIN, Style

if TYPE_CHECKING:
    from reconciler.app.workspace import Environment, Workspace

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_BUG = 0, 1, 2, 3


@dataclass
class Options:
    config: Path
    sandbox: bool
    sandbox_seed: Path | None
    debug: bool
    allowed_hosts: tuple[AllowedHost, ...] = ()
    lockfile: Path | None = None  # --lockfile
    style: Style = PLAIN  # colour on a terminal (--no-color, $NO_COLOR, $FORCE_COLOR)

    def workspace(self) -> Workspace:
        from reconciler.app.workspace import open_workspace

        return open_workspace(self.config, self.lockfile, dict(os.environ))

    @contextmanager
    def environment(self, ws: Workspace) -> Iterator[Environment]:
        """The process environment, and a sandbox on loopback when ``--sandbox`` is given."""
        from reconciler.app.desired import load_desired
        from reconciler.app.workspace import Environment

        if not self.sandbox:
            yield Environment(environ=dict(os.environ), allowed_hosts=self.allowed_hosts)
            return
        from reconciler.sandbox.seed import load_seed
        from reconciler.sandbox.server import BackgroundSandbox

        load_desired(ws)  # every problem of the specs is told before the sandbox writes its state
        state = sandbox_state(ws.root)
        seed = load_seed(self.sandbox_seed)
        try:
            server = BackgroundSandbox(seed=seed, state=state)
        except (OSError, sqlite3.Error) as exc:  # a read-only repository, a full disk
            where = display_path(state)
            raise StateError(f"cannot open the sandbox's state {where}: {exc}") from None
        with server as sandbox:
            yield Environment(
                environ=dict(os.environ), sandbox_url=sandbox.url, allowed_hosts=self.allowed_hosts
            )


def sandbox_state(root: Path) -> Path:
    """The sandbox's database, in ``.reconciler/`` of the repository: never through a link."""
    directory = root / ".reconciler"
    links = [p for p in (directory, directory / "sandbox.db") if p.is_symlink()]
    if links:
        why = "is a symbolic link; the sandbox keeps its state in the repository: remove it"
        raise InputError([Problem(display_path(links[0]), None, None, "", why)])
    return directory / "sandbox.db"


pass_options = click.make_pass_decorator(Options)
