"""When Python's cycle collector runs.

Reading thousands of spec documents or lockfile records makes millions of objects in a
burst, none in a reference cycle. The collector, run every 700 allocations, walks the young
ones and, every so often, every object alive; over a growing heap that is a fifth of a
10,000-spec ``validate`` (issue 20: 2.41 s -> 1.92 s without it). So it is off during such a
burst, and what the burst made is then frozen: it lives as long as the command, and later
collections need not walk it again. The price: a cycle already garbage when a burst ends
is never collected; ``watch`` loads again only when a spec file changed.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def bulk_allocation() -> Iterator[None]:
    """No cycle collection within; afterwards, every object alive is left out of later ones
    (objects are still freed when their last reference goes)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()
