"""The one error hierarchy of reconciler.

Every expected failure is a ``ReconcilerError``: the CLI prints its message (one line per
problem), exits 1 and shows no traceback unless ``--debug``. Anything else is a bug.

    ReconcilerError
    ├── InputError              bad user input: specs, config, lockfile, plan file
    │   (carries a list of Problem, each with file:line:col and key path)
    ├── StateError              lockfile/journal cannot be used as it is (OS errors included)
    │   ├── LockHeldError       another process holds the state lock (names the holder)
    │   ├── StaleLockError      the lock is noted by another host: force-unlock, if it is gone
    │   ├── LeaseLostError      a write under a lease another holder has taken since (fenced)
    │   ├── StalePlanError      a saved plan no longer matches the state or the specs
    │   ├── StateChangedError   a compare-and-set write found the state moved since its read
    │   ├── JournalWriteError   an entry could not be made durable in full: nothing more begins
    │   └── JournalDamagedError lines that are not journal entries: nothing is replayed
    ├── ApplyError              one or more actions failed during apply
    ├── AmbiguousStartError     a start may have happened, and more than one new run could be it
    ├── ApplyInterrupted        a second interrupt stopped an apply at once
    ├── UsageError              a command was asked for something it cannot do
    └── ApiError                a provider API call failed (server's message kept)
        ├── AuthError           401/403
        ├── NotFoundError       404
        ├── ConflictError       409
        ├── InvalidRequestError 400/422
        ├── RateLimitedError    429 (carries retry_after)
        ├── ServerError         5xx
        └── TransportError      no HTTP answer (connection refused, reset, timeout)
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@functools.total_ordering
@dataclass(frozen=True)
class Problem:
    """One user-facing problem, rendered ``file:line:col: key.path: reason``; sorted by file,
    then position (a problem with none first: a whole document's), key path and reason."""

    file: str
    line: int | None
    column: int | None
    path: str
    reason: str

    def _order(self) -> tuple[str, int, int, str, str]:
        line = -1 if self.line is None else self.line
        column = -1 if self.column is None else self.column
        return (self.file, line, column, self.path, self.reason)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return self._order() < other._order()

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        return f"{place}: {self.path}: {self.reason}" if self.path else f"{place}: {self.reason}"


def display_path(path: Path) -> str:
    """A path as the user would type it from the current directory, for messages."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def key_path(parts: Iterable[str | int]) -> str:
    """``spec.job.hosts[0].id`` from ``("spec", "job", "hosts", 0, "id")``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def name_list(names: list[str], limit: int = 5) -> str:
    """``a, b, c, d, e and 70 more``: names in a message, however many."""
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A suffix suggesting the closest known name, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class ReconcilerError(Exception):
    """An expected failure: reported as a message, exit code 1."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [str(self)]


class InputError(ReconcilerError):
    """One or more problems in user input, all reported at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class StateError(ReconcilerError):
    pass


class LockHeldError(StateError):
    pass


class StaleLockError(StateError):
    pass


class LeaseLostError(StateError):
    """A write carrying the epoch of a lease that has expired and been taken since: refused,
    so a holder paused past its lease cannot write over its successor."""


class StateChangedError(StateError):
    pass


class JournalWriteError(StateError):
    """An entry could not be made durable in full: its action and every later one must not
    begin. The journal refuses further entries, so nothing is glued onto a torn line."""


class JournalDamagedError(StateError):
    """Lines that are not journal entries: nothing is replayed, since a skipped line could be
    an intent, and a lost intent a second start."""

    def __init__(self, damaged: list[str]) -> None:
        self.damaged = damaged  # "file:line: what is wrong", one per line
        super().__init__("\n".join(damaged))

    def lines(self) -> list[str]:
        return [
            *self.damaged,
            "the journal is damaged, and nothing was done: `reconciler journal show` lists "
            "what it holds, `reconciler journal set-aside` replays what can be read and moves "
            "it aside (see the README, Exactly once)",
        ]


class StalePlanError(StateError):
    pass


class ApplyError(ReconcilerError):
    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__("\n".join(failures))

    def lines(self) -> list[str]:
        return list(self.failures)


class ApplyInterrupted(ReconcilerError):
    pass


class AmbiguousStartError(ReconcilerError):
    """A start may have happened, and more than one new run could be it."""


class UsageError(ReconcilerError):
    pass


class ApiError(ReconcilerError):
    """A provider call failed; ``status`` is the HTTP status, when there was an answer."""

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        self.provider = provider
        self.status = status
        self.api_message = message
        code = f" (HTTP {status})" if status is not None else ""
        super().__init__(f"{provider}: {message}{code}")


class AuthError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    pass


class InvalidRequestError(ApiError):
    pass


class RateLimitedError(ApiError):
    def __init__(
        self, provider: str, message: str, *, status: int | None = 429, retry_after: float = 1.0
    ) -> None:
        super().__init__(provider, message, status=status)
        self.retry_after = retry_after


class ServerError(ApiError):
    pass


class TransportError(ApiError):
    pass


def shown_key_path(parts: Iterable[str | int]) -> str:
    """``key_path`` for keys a YAML file may spell any way: a key that is empty or holds a
    space, a dot, a bracket, a quote or a character that is not printable (a line break) is
    quoted and escaped, so every problem stays one line and each key is told apart."""
    return key_path(part if isinstance(part, int) else _shown_key(part) for part in parts)


def _shown_key(key: str) -> str:
    if key and all(c.isprintable() and c not in ' ."[]\\' for c in key):
        return key
    return '"' + "".join(_escaped(c) for c in key) + '"'


def _escaped(char: str) -> str:
    short = {"\n": "\\n", "\t": "\\t", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
    if char in short:
        return short[char]
    return char if char.isprintable() else f"\\u{ord(char):04x}"
