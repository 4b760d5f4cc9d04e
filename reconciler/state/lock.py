"""The exclusive state lock: an OS file lock (released by the kernel if the holder dies),
plus a note naming the holder, so that a second applier fails fast with a useful message."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from reconciler.errors import LockHeldError


def lock_path(lockfile: Path) -> Path:
    return lockfile.with_name(lockfile.name + ".lck")


class StateLock:
    def __init__(self, path: Path, command: str) -> None:
        self.path = path
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held_by = _read_holder(fd)
            os.close(fd)
            raise LockHeldError(
                f"the state is locked by {held_by}; try again when it finishes"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
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


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']} ({info['command']}, since {info['since']})"
    except (ValueError, KeyError, OSError):
        return "another process"


def command_line() -> str:
    return " ".join(["reconciler", *sys.argv[1:]])[:200]
