"""When Python's cycle collector runs.

Reading thousands of spec documents or lockfile records makes millions of objects in a
burst, none in a reference cycle. The collector, run every 700 allocations, walks the young
ones and, every so often, every object alive; over a growing heap that was two fifths of a
10,000-spec ``validate`` (issue 20: 2.41 s -> 1.47 s with this). So it is off during such a
burst, and what the burst made is then frozen: it lives as long as the command, and later
collections need not walk it again. What is garbage when a later burst begins (``watch``
loading again after an edit) is collected first, so as not to be frozen with it.
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
    if enabled and gc.get_freeze_count():
        gc.collect()  # a later burst: the earlier cycles' garbage is not frozen for good
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()
