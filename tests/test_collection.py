"""Spec loading holds the cycle collector off and freezes what it made; what is garbage when
a later load begins (``watch`` after an edit) is collected, not frozen with it. In a child
process: freezing is process-wide."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc, weakref
from reconciler.app.collection import bulk_allocation

class Node:
    pass

def garbage_cycle():
    node = Node()
    node.itself = node
    return weakref.ref(node)

with bulk_allocation():
    assert not gc.isenabled()
    kept = [[n] for n in range(10_000)]
assert gc.isenabled() and gc.get_freeze_count() >= len(kept)
between = garbage_cycle()  # an earlier cycle's garbage, not yet collected
assert between() is not None
with bulk_allocation():
    pass
print("collected" if between() is None else "frozen")
"""


def test_a_later_load_collects_the_garbage_before_it_freezes() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=False, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, "collected"), done.stderr
