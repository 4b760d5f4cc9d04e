"""``state pull`` and ``state push``: the lockfile as an exported snapshot of a PostgreSQL state,
and the way to move a repository's state between the two (``app.transfer``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from reconciler.app.transfer import Copied, copy_state
from reconciler.app.workspace import Workspace
from reconciler.commands.common import lock_timeout_option
from reconciler.commands.options import Options, pass_options
from reconciler.errors import UsageError
from reconciler.spec.models import StateBackend
from reconciler.state.files import StateFiles, check_state_files
from reconciler.state.filestore import FileStore
from reconciler.state.lock import command_line

_PATH = click.argument(
    "path", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="[PATH]"
)
_FORCE = click.option(
    "--force",
    is_flag=True,
    help="Replace the target's state even if it is another lineage, newer, or different "
    "under the same serial.",
)


@click.group()
def state() -> None:
    """Copy the state between the lockfile and PostgreSQL (state: backend: postgres).

    \b
    To PostgreSQL:  set `state: {backend: postgres, dsn: env:RECONCILER_PG_DSN}` in
                    reconciler.yaml, then `reconciler state push`.
    Back to files:  `reconciler state pull`, then remove `state:` from reconciler.yaml.

    Records, schedules, provider states, lineage and serial are copied as they are; a journal
    an interrupted apply left on either side is replayed first.
    """


@state.command("pull")
@_PATH
@_FORCE
@lock_timeout_option(default=0.0)
@pass_options
def pull(options: Options, path: Path | None, force: bool, lock_timeout: float) -> int:
    """Write the PostgreSQL state to the lockfile (PATH, or the one reconciler.yaml names).

    The lockfile becomes a snapshot of the store, to commit so reviewers see the state. Like
    push, refused when the lockfile is another lineage or newer, unless --force.
    """
    ws = options.workspace()
    files = FileStore(_lockfile(ws, path, "state pull"))
    copied = copy_state(ws.store, files, command=command_line(), force=force, timeout=lock_timeout)
    _echo(copied, ws.store.name, files.name)
    return 0


@state.command("push")
@_PATH
@_FORCE
@lock_timeout_option(default=0.0)
@pass_options
def push(options: Options, path: Path | None, force: bool, lock_timeout: float) -> int:
    """Write the lockfile (PATH, or the one reconciler.yaml names) into the PostgreSQL state.

    Refused, as Terraform's `state push`, when the stored state is another lineage, or newer
    (a greater serial), or different under the same serial, unless --force.
    """
    ws = options.workspace()
    files = FileStore(_lockfile(ws, path, "state push"))
    copied = copy_state(files, ws.store, command=command_line(), force=force, timeout=lock_timeout)
    _echo(copied, files.name, ws.store.name)
    return 0


def _lockfile(ws: Workspace, path: Path | None, what: str) -> StateFiles:
    if ws.config.state.backend is not StateBackend.POSTGRES:
        raise UsageError(
            f"{what} copies between the lockfile and PostgreSQL, and reconciler.yaml keeps the "
            "state in the lockfile (set state: backend: postgres first)"
        )
    if path is None:
        return ws.state
    files = StateFiles(Path(os.path.abspath(path)), chosen_outside=True)
    check_state_files(ws.root, files)
    return files


def _echo(copied: Copied, source: str, target: str) -> None:
    for name in copied.replayed:
        click.echo(f"Replayed the journal an interrupted apply left in {name}.")
    lock = copied.written
    what = f"lineage {lock.lineage}, serial {lock.serial}, {len(lock.runs)} record(s)"
    if copied.unchanged:
        click.echo(f"{target} already holds the state of {source} ({what}); nothing written.")
    else:
        click.echo(f"Wrote the state of {source} to {target} ({what}).")
