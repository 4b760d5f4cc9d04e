"""The intent journal (``reconciler.lock.journal``): JSON lines, fsynced, folded into the lockfile.

Before a start, an ``intent`` line records the run key; after it, a ``started`` line records the
run id. A process that dies between the two leaves an intent whose run may or may not exist; the
next command folds it into a record with no run id, and the planner adopts the run by its key.
Likewise a ``stop_intent`` precedes a stop call and a ``stop`` line follows it: folded, the
intent alone marks the record as stopped by us, so a run found stopped is not taken for drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.errors import StateError
from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.files import open_state, read_state_text
from reconciler.state.lockfile import Lockfile, RunRecord


class JournalWriteError(StateError):
    """An entry could not be made durable in full: its action and every later one must not
    begin. The journal refuses further entries, so nothing is glued onto a torn line."""


class Journal:
    """Append-only; each entry is durable, in full, when its ``await`` returns.

    Group commit: the fsync runs in a thread, so the event loop keeps serving other actions,
    and one fsync makes durable every entry written before it began. Concurrent starts share
    fsyncs instead of queueing one each (a slow disk's fsync takes milliseconds).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = open_state(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._written = 0  # entries written to the file
        self._durable = 0  # entries an fsync has covered
        self._sync_lock = asyncio.Lock()
        self.syncs = 0  # fsyncs made, for benchmarks
        self._failure: JournalWriteError | None = None

    async def append(self, entry: dict[str, Any]) -> None:
        if self._failure is not None:
            raise self._failure
        line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
        self._write_in_full(line.encode("utf-8"))
        self._written += 1
        mine = self._written
        async with self._sync_lock:
            if self._durable >= mine:
                return  # an fsync that began after our write covered it
            covers = self._written
            try:
                await asyncio.to_thread(os.fsync, self._fd)
            except OSError as exc:  # EIO: what was written may not be on disk
                raise self._failed(exc) from None
            self.syncs += 1
            self._durable = max(self._durable, covers)

    def _write_in_full(self, data: bytes) -> None:
        """One line, however many writes it takes (a write may take only part of it, as at a
        file size limit). A line that cannot be completed is cut off again."""
        start = os.lseek(self._fd, 0, os.SEEK_END)
        done = 0
        try:
            while done < len(data):
                written = os.write(self._fd, data[done:])  # O_APPEND: continues the line
                if written == 0:
                    raise OSError(errno.EIO, "the disk took none of the line")
                done += written
        except OSError as exc:  # ENOSPC, EFBIG, EIO
            with contextlib.suppress(OSError):  # a torn line is also ignored on read
                os.ftruncate(self._fd, start)
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> JournalWriteError:
        cause = exc.strerror or str(exc)
        self._failure = JournalWriteError(
            f"cannot write the journal {self.path}: {cause}; no further action was begun "
            "(the next command replays what the journal holds)"
        )
        return self._failure

    async def intent(self, record: RunRecord) -> None:
        await self.append({"op": "intent", "record": record.model_dump(mode="json")})

    async def started(self, name: str, run_id: str, status: RunStatus, at: datetime | None) -> None:
        await self.append(
            {
                "op": "started",
                "name": name,
                "run_id": run_id,
                "status": status.value,
                "started_at": at.isoformat() if at else None,
            }
        )

    async def start_failed(self, name: str) -> None:
        """The API refused the start: no run exists for the intent."""
        await self.append({"op": "start_failed", "name": name})

    async def stop_intent(self, name: str, run_id: str, reason: StopReason) -> None:
        """Before a stop call: whatever becomes of the call, a run found stopped later was
        stopped by us, for this reason."""
        entry = {"op": "stop_intent", "name": name, "run_id": run_id, "reason": reason.value}
        await self.append(entry)

    async def stop_requested(
        self, name: str, run_id: str, reason: StopReason, status: RunStatus
    ) -> None:
        await self.append(
            {
                "op": "stop",
                "name": name,
                "run_id": run_id,
                "reason": reason.value,
                "status": status.value,
            }
        )

    def close(self) -> None:
        os.close(self._fd)


def read_entries(path: Path) -> list[dict[str, Any]]:
    """Entries of a journal; a torn last line (the process died mid-write) is ignored."""
    text = read_state_text(path)
    if text is None:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def fold(lock: Lockfile, entries: list[dict[str, Any]]) -> Lockfile:
    """The lockfile with the journal's entries applied, in order."""
    runs = dict(lock.runs)
    displaced: dict[str, RunRecord | None] = {}  # what each intent replaced
    for entry in entries:
        op = entry.get("op")
        if op == "intent":
            record = RunRecord.model_validate(entry["record"])
            displaced[record.name] = runs.get(record.name)
            runs[record.name] = record
            continue
        record_or_none = runs.get(str(entry.get("name")))
        if record_or_none is None:
            continue
        record = record_or_none
        if op == "started":
            started = entry.get("started_at")
            runs[record.name] = record.model_copy(
                update={
                    "run_id": entry["run_id"],
                    "status": RunStatus(entry["status"]),
                    "started_at": datetime.fromisoformat(started) if started else None,
                }
            )
        elif op == "start_failed" and record.run_id is None:
            previous = displaced.get(record.name)
            if previous is None:
                del runs[record.name]
            else:
                runs[record.name] = previous
        elif op == "stop_intent" and record.run_id == entry.get("run_id"):
            runs[record.name] = record.model_copy(
                update={"stop_reason": StopReason(entry["reason"])}
            )
        elif op == "stop" and record.run_id == entry.get("run_id"):
            runs[record.name] = record.model_copy(
                update={
                    "stop_reason": StopReason(entry["reason"]),
                    "status": RunStatus(entry["status"]),
                }
            )
    return lock.model_copy(update={"runs": runs})
