"""Appliers at once on one PostgreSQL state, past CI's share: one applier replacing its
instance's runs alone, then N at once doing the same on theirs (one provider instance each,
`apply --target`), then N untargeted ones (each takes the whole state: they take turns), with
the sandbox's latency per call; wall times and the ratio to one applier.
``tests/resilience/test_pg_appliers.py`` keeps the check.

    .venv/bin/python -m benchmarks.pg_appliers [--latency 1.0]

Starts its own PostgreSQL server (``tests/pgserver.py``: the machine's binaries).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.pgserver import benchmark_server
from tests.resilience.test_pg_appliers import APPLIERS, Appliers, alone_then_together, finish


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per API call")
    args = parser.parse_args()
    with benchmark_server() as server, tempfile.TemporaryDirectory() as tmp:
        world = Appliers(Path(tmp), server.new_database("appliers"), latency=args.latency)
        try:
            alone, together, most = alone_then_together(world)
            world.revision = [r + 1 for r in world.revision]
            world.write_specs()
            began = time.monotonic()
            finish([world.apply() for _ in range(APPLIERS)])
            whole = time.monotonic() - began
            world.assert_each_started_once()
        finally:
            world.close()
    print(
        f"latency {args.latency:g}s per call: 1 applier alone {alone:.1f}s; {APPLIERS} on "
        f"disjoint instances at once {together:.1f}s ({together / alone:.2f}x one, "
        f"{most} leases held at once); {APPLIERS} untargeted (whole state, one acts) "
        f"{whole:.1f}s; 0 duplicate starts"
    )


if __name__ == "__main__":
    main()
