"""The lockfile as a snapshot of a PostgreSQL state: what `apply --commit` and `--push` commit
when the state lives in the database. The store is the truth; the snapshot is for reviewers
(the state of each commit in git, as with the file store) and is never read back by an apply.

A snapshot replaces the lockfile only when that loses nothing: the lockfile is absent, or of
the store's lineage and not newer. Anything else (a file-store lockfile never migrated with
`state push`, another database's state) is refused before the apply, with the way out.
"""

from __future__ import annotations

from reconciler.errors import StateChangedError, display_path
from reconciler.state.files import StateFiles
from reconciler.state.lockfile import read_lockfile, store_lockfile
from reconciler.state.model import Lockfile
from reconciler.state.store import StateStore


def snapshot_refusal(lockfile: Lockfile, stored: Lockfile) -> str | None:
    """Why ``stored`` must not replace ``lockfile``, or None."""
    if not lockfile.lineage:
        return None
    if stored.lineage and lockfile.lineage != stored.lineage:
        return (
            f"it holds another state (lineage {lockfile.lineage}, the store's is "
            f"{stored.lineage}): `reconciler state push` it into the store first, or remove it"
        )
    if lockfile.serial > stored.serial:
        return (
            f"it is newer than the store (serial {lockfile.serial}, the store's is "
            f"{stored.serial}): `reconciler state push` it into the store first"
        )
    return None


def check_exportable(store: StateStore, files: StateFiles) -> None:
    """Before an apply that will commit a snapshot: refused when writing one would lose what
    the lockfile holds."""
    name = display_path(files.lockfile)
    why = snapshot_refusal(read_lockfile(files.lockfile, name), store.read())
    if why is not None:
        raise StateChangedError(
            f"{name} would be replaced by a snapshot of {store.name}, and {why}; nothing was done"
        )


def export_snapshot(store: StateStore, files: StateFiles) -> Lockfile | None:
    """Write the store's state (as of one moment, journal entries folded) to the lockfile;
    None when the lockfile already holds it or something newer."""
    name = display_path(files.lockfile)
    current = read_lockfile(files.lockfile, name)
    stored = store.read()
    why = snapshot_refusal(current, stored)
    if why is not None:
        raise StateChangedError(f"{name} was not replaced by a snapshot of {store.name}: {why}")
    if current.lineage == stored.lineage and current.serial >= stored.serial:
        return None
    return store_lockfile(files.lockfile, stored)
