"""The exclusive state lock: an OS file lock, plus a note naming the holder.

The kernel releases the file lock when its holder dies, however it dies, so on one machine a
killed apply never leaves a lock that blocks the next one: a note found under a free lock is
provably stale and is taken over. A note written by another host cannot be checked from here
(its lock may not be visible across a network filesystem): it is reported as stale, with the
command that clears it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from reconciler.errors import LockHeldError, StaleLockError, StateError
from reconciler.state.files import open_state, os_errors
from reconciler.state.store import LockHolder

POLL_SECONDS = 0.1
# A new holder writes its note just after taking the lock; a contender that finds no note, or
# the note of a holder that is gone, gives it this long to appear before naming no one.
NOTE_WAIT_SECONDS = 1.0


def _read_holder(fd: int) -> LockHolder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        return LockHolder(**json.loads(raw)) if raw.strip() else None
    except (ValueError, TypeError, OSError):
        return None


def _may_be_alive(holder: LockHolder) -> bool:
    if holder.host != socket.gethostname():
        return True  # cannot be checked from here
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _current_holder(fd: int) -> LockHolder | None:
    """The note of the process that holds the lock now, or None if it wrote none in time."""
    deadline = time.monotonic() + NOTE_WAIT_SECONDS
    while True:
        holder = _read_holder(fd)
        if holder is not None and _may_be_alive(holder):
            return holder
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_SECONDS / 5)


class StateLock:
    def __init__(self, path: Path, command: str, *, timeout: float = 0.0) -> None:
        self.path = path
        self.command = command
        self.timeout = timeout
        self.taken_over: LockHolder | None = None  # a dead holder's note, replaced by ours
        self._fd: int | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        fd = open_state(self.path, os.O_RDWR | os.O_CREAT)
        try:
            self._take(fd, deadline)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _take(self, fd: int, deadline: float) -> None:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(POLL_SECONDS)
                    continue
                holder = _current_holder(fd)
                held_by = str(holder) if holder else "another process"
                waited = f" after waiting {self.timeout:g}s" if self.timeout else ""
                raise LockHeldError(
                    f"the state is locked by {held_by}{waited}; try again when it finishes "
                    "(or pass --lock-timeout to wait)"
                ) from None
        previous = _read_holder(fd)
        if previous is not None and previous.host != socket.gethostname():
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise StaleLockError(
                f"the state lock is noted as held by {previous}, which cannot be checked from "
                f"this machine; if that process is gone, clear it with: "
                f"reconciler force-unlock {previous.id}"
            )
        self.taken_over = previous  # same host and lock free: its holder is gone
        holder = LockHolder(
            id=uuid.uuid4().hex[:12],
            pid=os.getpid(),
            host=socket.gethostname(),
            command=self.command,
            since=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        note = json.dumps(holder.__dict__).encode()
        with os_errors(self.path, "write"):
            os.pwrite(fd, note, 0)  # overwrite, then cut: never an empty note while held
            os.ftruncate(fd, len(note))
            os.fsync(fd)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # a note left behind is taken over as stale
                os.ftruncate(self._fd, 0)  # an empty note: released cleanly
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def force_unlock(path: Path, lock_id: str) -> LockHolder:
    """Clear the note of lock ``lock_id``; refused while a process on this machine holds it."""
    if not path.exists():
        raise StateError("there is no state lock to clear")
    fd = open_state(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _current_holder(fd)
            raise StateError(
                f"lock {lock_id} is held by a live process: {holder or 'unknown'}; "
                "stop it rather than clearing its lock"
            ) from None
        holder = _read_holder(fd)
        if holder is None:
            raise StateError("the state is not locked")
        if holder.id != lock_id:
            raise StateError(f"the state lock is {holder.id}, not {lock_id}; nothing cleared")
        with os_errors(path, "clear"):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return holder
    finally:
        os.close(fd)


def command_line() -> str:
    return " ".join(["reconciler", *sys.argv[1:]])[:200]
