"""The way out of a damaged journal: replay what can be read, set the file aside.

A damaged line may have been an intent, whose run may exist at the provider: nothing does this
silently. ``journal set-aside`` is asked for by a person, after ``journal show``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reconciler.errors import StateError, display_path
from reconciler.state.entries import fold
from reconciler.state.files import StateFiles, os_errors
from reconciler.state.filestore import FileStore
from reconciler.state.journal import JournalLine, scan
from reconciler.state.model import Lockfile, RunRecord


@dataclass(frozen=True)
class SetAside:
    path: Path  # where the journal now is
    replayed: int  # entries folded into the lockfile
    damaged: list[JournalLine]
    unconfirmed: list[RunRecord]  # starts the journal leaves without a run id


def unconfirmed(lock: Lockfile, before: Lockfile) -> list[RunRecord]:
    """Records the journal's intents leave with no run id: their run may exist or not."""
    return [
        record
        for name, record in sorted(lock.runs.items())
        if record.run_id is None and before.runs.get(name) != record
    ]


def set_aside(files: StateFiles, command: str, *, lock_timeout: float = 0.0) -> SetAside:
    """Under the state lock: fold the journal's readable entries into the lockfile, then move
    the journal to ``<journal>.set-aside-<UTC time>``."""
    with FileStore(files).locked(command, timeout=lock_timeout) as state:
        if not os.path.lexists(files.journal):
            raise StateError(f"there is no journal {display_path(files.journal)} to set aside")
        # A journal that is not a file (a directory) holds nothing to replay: moved aside too.
        lines = scan(files.journal) if files.journal.is_file() else []
        before = state.read()
        entries = [line.entry for line in lines if line.entry is not None]
        after = fold(before, entries)
        if entries:
            state.write(after)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = files.journal.with_name(f"{files.journal.name}.set-aside-{stamp}")
        with os_errors(files.journal, "move aside"):
            os.rename(files.journal, aside)
        damaged = [line for line in lines if line.entry is None]
        return SetAside(aside, len(entries), damaged, unconfirmed(after, before))
