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
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

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


class Forked(Generic[P, R]):
    """``work`` of each part, begun at once in forked children, all but the last part (or,
    ``here=False``, every part: this process stays free for other work, such as waiting on
    APIs) when there are two parts or more and this process may fork; ``results`` does the
    rest here and collects the children's, in order. ``work`` must raise nothing it expects
    to be told: a child's failure is not reported, its part is done again here (where a
    failure is raised as usual)."""

    def __init__(self, work: Callable[[P], R], parts: Sequence[P], *, here: bool = True):
        self.work = work
        self.parts = list(parts)
        self.children: list[tuple[ForkProcess, Connection]] = []
        if len(parts) < 2 or not can_fork():
            return
        import multiprocessing  # only for work large enough to share out

        context = multiprocessing.get_context("fork")
        try:
            for part in self.parts[:-1] if here else self.parts:
                receiving, sending = context.Pipe(duplex=False)
                child = context.Process(target=_child, args=(work, part, sending), daemon=True)
                try:
                    child.start()  # flushes this process's output first: the child writes none
                except OSError:  # no more processes (a limit, a sandbox): the rest done here
                    receiving.close()
                    break
                finally:
                    sending.close()
                self.children.append((child, receiving))
        except BaseException:
            self.close()
            raise

    def results(self) -> list[R]:
        try:
            forked = len(self.children)
            local = [self.work(part) for part in self.parts[forked:]]
            pairs = zip(self.children, self.parts[:forked], strict=True)
            done = [_result(self.work, part, receiving) for (_, receiving), part in pairs]
            return done + local
        finally:
            self.close()

    def close(self) -> None:
        """Stops the children still at work (their results are not wanted any more)."""
        for child, receiving in self.children:
            receiving.close()
            if child.is_alive():
                child.kill()
            child.join()
        self.children = []


def _child(work: Callable[[P], R], part: P, sending: Connection) -> None:
    # Signals are the parent's to handle: it stops its children. Its event loop's wake-up
    # descriptor is not this process's to write to.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
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
