"""CPU-bound work over parts of the input, on every core: the parts but the last in forked
child processes, the last in this one.

Reading 10,000 spec files is a second of parsing and validating on one core; on two it is
half that (issue 20). A forked child starts with everything this process has imported and
read, so a part costs its share of the work, the pickling of its result, and little more.
Forking is safe only while this process has one thread (another thread may hold a lock the
child would wait on for ever), so with more threads, or where fork is unavailable, every
part is done here in turn. A child that fails or dies has its part done here again: the
outcome is the same as without children, only later.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkProcess

P = TypeVar("P")
R = TypeVar("R")

MAX_PROCESSES = 8


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def can_fork() -> bool:
    return sys.platform != "win32" and hasattr(os, "fork") and threading.active_count() == 1


def map_forked(work: Callable[[P], R], parts: Sequence[P]) -> list[R]:
    """``work`` of each part, in order; all but the last part in forked children when this
    process may fork. ``work`` must raise nothing it expects to be told: a child's failure
    is not reported, its part is done again here (where a failure is raised as usual)."""
    if len(parts) < 2 or not can_fork():
        return [work(part) for part in parts]
    import multiprocessing  # only for work large enough to share out

    context = multiprocessing.get_context("fork")
    children: list[tuple[ForkProcess, Connection]] = []
    try:
        for part in parts[:-1]:
            receiving, sending = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(work, part, sending), daemon=True)
            child.start()  # flushes this process's output first: the child writes none
            sending.close()
            children.append((child, receiving))
        last = work(parts[-1])
        pairs = zip(children, parts[:-1], strict=True)
        return [*(_result(work, part, receiving) for (_, receiving), part in pairs), last]
    finally:
        for child, receiving in children:
            receiving.close()
            if child.is_alive():
                child.kill()
            child.join()


def _child(work: Callable[[P], R], part: P, sending: Connection) -> None:
    try:
        result: Any = work(part)
    except BaseException:  # told by the part done again in the parent
        result = _FAILED
    try:
        sending.send(result)
    except BaseException:
        os._exit(1)
    sending.close()


def _result(work: Callable[[P], R], part: P, receiving: Connection) -> R:
    try:
        result = receiving.recv()
    except Exception:  # the child died before it sent all of its result
        result = _FAILED
    if isinstance(result, _Failed):
        return work(part)
    return result  # type: ignore[no-any-return]


class _Failed:
    """A child's answer when its work raised."""


_FAILED = _Failed()
