"""Work shared out among forked children: results in order, a dead child's part done again
here, no fork beside another thread. In a child interpreter: whether this one may fork
depends on the threads earlier tests left."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reconciler.app.forked import cores
from reconciler.app.spec_reading import MIN_BYTES_PER_PROCESS, file_sizes, file_stats, shares

CHILD = """
import os, threading, time
from reconciler.app.forked import Forked, can_fork

def map_forked(work, parts):
    return Forked(work, parts).results()

me = os.getpid()

def whose(part):
    return part, os.getpid()

def dies_in_a_child(part):
    if os.getpid() != me and part == 1:
        os._exit(9)
    return part, os.getpid()

def fails_in_a_child(part):
    if os.getpid() != me:
        raise RuntimeError("in the child")
    return part, os.getpid()

assert can_fork()
done = map_forked(whose, [0, 1, 2])
assert [p for p, _ in done] == [0, 1, 2], done
assert done[2][1] == me and len({pid for _, pid in done}) == 3, done

begun = Forked(whose, [0, 1], here=False)  # every part in a child: this one is free
done = begun.results()
assert [p for p, _ in done] == [0, 1] and me not in {pid for _, pid in done}, done
assert begun.children == []

done = map_forked(dies_in_a_child, [0, 1, 2])
assert [p for p, _ in done] == [0, 1, 2], done
assert done[1][1] == me and done[0][1] != me, done

done = map_forked(fails_in_a_child, [0, 1])
assert done == [(0, me), (1, me)], done

try:
    map_forked(lambda part: 1 / part, [1, 0])
except ZeroDivisionError:
    pass
else:
    raise AssertionError("a failure here is raised")

def refused():
    raise BlockingIOError(11, "Resource temporarily unavailable")

forking, os.fork = os.fork, refused  # the system refuses a process: every part done here
try:
    assert map_forked(whose, [0, 1, 2]) == [(0, me), (1, me), (2, me)]
finally:
    os.fork = forking

stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
try:
    assert not can_fork()
    assert {pid for _, pid in map_forked(whose, [0, 1])} == {me}
finally:
    stop.set()
    other.join()
print("ok")
"""


def test_parts_go_to_children_and_come_back_in_order() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=False, timeout=60
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_files_are_shared_out_by_bytes_in_their_order(tmp_path: Path) -> None:
    sizes = [MIN_BYTES_PER_PROCESS // 4] * 8 + [MIN_BYTES_PER_PROCESS]
    paths = []
    for index, size in enumerate(sizes):
        path = tmp_path / f"{index}.yaml"
        path.write_bytes(b"#" * size)
        paths.append(path)
    assert shares(paths[:3], sizes[:3]) == [paths[:3]]  # too little to share
    assert file_sizes(file_stats(paths)) == sizes
    parts = shares(paths, sizes)
    assert [p for part in parts for p in part] == paths
    assert len(parts) == min(cores(), 3)  # 12 quarters: at most three parts
    if len(parts) == 2:
        assert parts == [paths[:6], paths[6:]]
