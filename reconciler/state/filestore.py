"""The file store: the state in ``reconciler.lock`` beside the specs, committed with them.

It owns every file name (``StateFiles``): the lockfile, its journal, its lock note and the
temp files of atomic writes. The lock is an OS file lock (``state.lock``); the journal is JSON
lines (``state.journal``); every file is opened without following links (``state.files``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from reconciler.errors import StateChangedError, display_path
from reconciler.state.entries import fold
from reconciler.state.files import StateFiles, check_writable, remove_state
from reconciler.state.journal import Journal, read_entries
from reconciler.state.lock import StateLock, force_unlock
from reconciler.state.lockfile import read_lockfile, store_lockfile, write_lockfile
from reconciler.state.model import Lockfile
from reconciler.state.store import LockHolder


@dataclass(frozen=True)
class FileStore:
    files: StateFiles

    @property
    def name(self) -> str:
        return display_path(self.files.lockfile)

    def _read_records(self) -> Lockfile:
        return read_lockfile(self.files.lockfile, self.name)

    def read(self) -> Lockfile:
        entries = read_entries(self.files.journal)
        lock = self._read_records()
        return fold(lock, entries) if entries else lock

    @contextmanager
    def locked(
        self, command: str, *, timeout: float = 0.0, scopes: Collection[str] = ()
    ) -> Iterator[LockedFiles]:
        # One file lock: the whole state, whatever the scopes.
        with StateLock(self.files.lock, command, timeout=timeout) as lock:
            yield LockedFiles(self, lock.taken_over)

    def force_unlock(self, lock_id: str) -> LockHolder:
        return force_unlock(self.files.lock, lock_id)


@dataclass
class LockedFiles:
    """The file store under its lock."""

    store: FileStore
    taken_over: LockHolder | None

    def recover(self) -> bool:
        journal = self.store.files.journal
        if not os.path.lexists(journal):
            return False
        entries = read_entries(journal)
        if entries:  # empty (or one torn line) when the apply died before its first intent
            self._replace(fold(self.store._read_records(), entries))
        remove_state(journal)
        return True

    def read(self) -> Lockfile:
        return self.store._read_records()

    def write(self, lock: Lockfile) -> Lockfile:
        current = self.store._read_records()
        if (current.lineage, current.serial) != (lock.lineage, lock.serial):
            raise StateChangedError(
                f"{self.store.name} changed since it was read (serial {lock.serial} -> "
                f"{current.serial}); nothing was written"
            )
        return self._replace(lock)

    def _replace(self, lock: Lockfile) -> Lockfile:
        return write_lockfile(self.store.files.lockfile, lock)

    def replace(self, lock: Lockfile) -> Lockfile:
        return store_lockfile(self.store.files.lockfile, lock)

    def check_writable(self) -> None:
        check_writable(self.store.files.lockfile)

    @contextmanager
    def journal(self) -> Iterator[Journal]:
        journal = Journal(self.store.files.journal)
        try:
            yield journal
        finally:
            journal.close()

    def clear_journal(self) -> None:
        remove_state(self.store.files.journal)
