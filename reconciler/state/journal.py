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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import JournalDamagedError, JournalWriteError, display_path, key_path
from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.entries import (
    ENTRY,
    OPS,
    Entry,
    IntentEntry,
    StartedEntry,
    StartFailedEntry,
    StopEntry,
    StopIntentEntry,
)
from reconciler.state.files import open_state, read_state_text
from reconciler.state.model import RunRecord


class Journal:
    """Append-only. An intent is durable, in full, when its ``await`` returns; an outcome
    (``started``, ``start_failed``, ``stop``) is written, and made durable by the next
    intent's fsync: a process killed after writing it leaves it in the file (the kernel
    keeps it), and one lost with the machine leaves its intent alone, whose run the next
    command adopts by key or snapshot, as after a kill before the line. So a start costs
    its intent's share of an fsync, not that and one of its own (issue 20: 0.62 fsyncs per
    start -> 0.32 in an apply of 1,000).

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

    async def append(self, entry: Entry, *, durable: bool = True) -> None:
        """Write ``entry``; with ``durable``, return once it is on disk."""
        if self._failure is not None:
            raise self._failure
        data = entry.model_dump(mode="json")
        line = json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"
        self._write_in_full(line.encode("utf-8"))
        self._written += 1
        if not durable:
            return
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

    def check_held(self) -> None:
        """A file lock is held until the process ends: nothing to check."""

    async def held_for(self, seconds: float) -> None:
        """A file lock does not expire."""

    async def intent(self, record: RunRecord) -> None:
        await self.append(IntentEntry(record=record))

    async def started(self, name: str, run_id: str, status: RunStatus, at: datetime | None) -> None:
        entry = StartedEntry(name=name, run_id=run_id, status=status, started_at=at)
        await self.append(entry, durable=False)

    async def start_failed(self, name: str) -> None:
        """The API refused the start: no run exists for the intent."""
        await self.append(StartFailedEntry(name=name), durable=False)

    async def stop_intent(self, name: str, run_id: str, reason: StopReason) -> None:
        """Before a stop call: whatever becomes of the call, a run found stopped later was
        stopped by us, for this reason."""
        await self.append(StopIntentEntry(name=name, run_id=run_id, reason=reason))

    async def stop_requested(
        self, name: str, run_id: str, reason: StopReason, status: RunStatus
    ) -> None:
        entry = StopEntry(name=name, run_id=run_id, reason=reason, status=status)
        await self.append(entry, durable=False)

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True)
class JournalLine:
    """One line of a journal: its entry, or why it is not one."""

    number: int
    entry: Entry | None
    problem: str | None = None


def scan(path: Path) -> list[JournalLine]:
    """Every line of the journal, damaged ones included (for ``journal show``). A last line
    with no newline is torn (its writer died before it was durable, so its action never
    began) and is not a line."""
    text = read_state_text(path)
    if text is None:
        return []
    return [_parse(number, line) for number, line in enumerate(text.split("\n")[:-1], 1)]


def _parse(number: int, line: str) -> JournalLine:
    try:
        return JournalLine(number, ENTRY.validate_json(line, strict=True))
    except ValidationError as exc:
        return JournalLine(number, None, _problem(exc))
    except RecursionError:
        return JournalLine(number, None, "nested too deeply")


_REASONS = {"missing": "required key is missing", "extra_forbidden": "unknown key"}


def _problem(exc: ValidationError) -> str:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    if first["type"] == "union_tag_invalid" or first["type"] == "union_tag_not_found":
        why = f"op: not a journal entry (one of {', '.join(OPS)})"
    elif first["type"] == "json_invalid":
        # The parser's own limit on nesting (200 levels) is not a syntax error.
        deep = "recursion limit exceeded" in first["msg"]
        why = "nested too deeply" if deep else "not a JSON line"
    elif not first["loc"]:
        why = "not a JSON object"
    else:
        where = key_path(p for p in first["loc"][1:] if isinstance(p, (str, int)))
        message = _REASONS.get(first["type"], first["msg"])
        why = f"{where}: {message}" if where else message
    more = len(errors) - 1
    return why + (f" (and {more} more)" if more else "")


def read_entries(path: Path) -> list[Entry]:
    """The journal's entries, in order; a damaged line stops everything."""
    lines = scan(path)
    damaged = [line for line in lines if line.entry is None]
    if damaged:
        raise JournalDamagedError(
            [f"{display_path(path)}:{line.number}: {line.problem}" for line in damaged]
        )
    return [line.entry for line in lines if line.entry is not None]
