"""The state store seam: what the use cases need of wherever a state lives.

After Terraform's ``statemgr`` (Reader, Writer, Persister, Locker): one protocol, a file store
first (``state.filestore``), and one conformance suite every store passes
(``tests/state/test_store_conformance.py``). The engine sees only ``JournalWriter``.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.model import Lockfile, RunRecord


class JournalWriter(Protocol):
    """Where an apply makes each intent durable before its call, and records each outcome
    after it (durable with a later intent, or at once, as the store chooses: an intent alone
    is always enough to recover)."""

    async def intent(self, record: RunRecord) -> None: ...

    def check_held(self) -> None:
        """Before an action's provider calls, and as each of their requests is written
        (``providers.http.checked_sends``): ``JournalWriteError`` when the state's lock may no
        longer be this apply's (a lease past its local deadline, as after a pause), so a call
        its successor may make too is never sent."""
        ...

    async def held_for(self, seconds: float) -> None:
        """As a request that acts is written: return once the state's lock surely lasts
        ``seconds`` more (the request's timeout), waiting for its renewal if it is due;
        ``JournalWriteError`` as ``check_held`` once the lock may have expired meanwhile. So a
        start's answer comes, or its wait ends, while the lock is still this apply's."""
        ...

    async def started(
        self, name: str, run_id: str, status: RunStatus, at: datetime | None
    ) -> None: ...

    async def start_failed(self, name: str) -> None: ...

    async def stop_intent(self, name: str, run_id: str, reason: StopReason) -> None: ...

    async def stop_requested(
        self, name: str, run_id: str, reason: StopReason, status: RunStatus
    ) -> None: ...


@dataclass(frozen=True)
class LockHolder:
    """Who holds a state lock, as its note says."""

    id: str
    pid: int
    host: str
    command: str
    since: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command}, since {self.since}; lock {self.id})"


class LockedState(Protocol):
    """A state while its lock is held: the only way to change it."""

    # A dead holder's note, replaced by ours; None when the lock was free and clean.
    taken_over: LockHolder | None

    def recover(self) -> bool:
        """Fold a journal an interrupted apply left into the records, then clear it; whether
        there was one."""
        ...

    def read(self) -> Lockfile: ...

    def write(self, lock: Lockfile) -> Lockfile:
        """Compare-and-set on the serial: ``lock`` must carry the serial (and lineage) of the
        state it was read from; what is stored carries the next serial, and is returned.
        ``StateChangedError`` when the state moved since."""
        ...

    def replace(self, lock: Lockfile) -> Lockfile:
        """Store ``lock`` as it is, lineage and serial kept (``state push``/``pull``, which
        check them first); what is stored."""
        ...

    def check_writable(self) -> None:
        """Before the first action: the next ``write`` can succeed, as far as can be known."""
        ...

    def journal(self) -> AbstractContextManager[JournalWriter]:
        """A journal for one apply's actions; kept after it until ``clear_journal``."""
        ...

    def clear_journal(self) -> None:
        """After the records are written: the journal's entries are in them."""
        ...


class StateStore(Protocol):
    """One state: records, serial and lineage, a lock, a journal."""

    @property
    def name(self) -> str:
        """How messages name it (a path, a database)."""
        ...

    def read(self) -> Lockfile:
        """The records with any journal an interrupted apply left folded in (in memory)."""
        ...

    def locked(
        self, command: str, *, timeout: float = 0.0, scopes: Collection[str] = ()
    ) -> AbstractContextManager[LockedState]:
        """Exclusive: ``LockHeldError`` naming the holder, after waiting up to ``timeout``.

        ``scopes``: the provider instances an apply may act on, when it knows them (a targeted
        apply); a store may then let appliers on other instances proceed at once (PostgreSQL
        does), or lock the whole state all the same (the file store). None: the whole state."""
        ...

    def force_unlock(self, lock_id: str) -> LockHolder:
        """Clear the lock ``lock_id`` whose holder is gone; refused while it is alive."""
        ...
