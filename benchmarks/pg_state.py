"""The PostgreSQL store against the file store, in the same run, through the real CLI on the
sandbox: an apply of N starts, and a no-op plan of M specs (all started and recorded first).

    .venv/bin/python -m benchmarks.pg_state [--starts 1000] [--noop 10000] [--repeat 3]

Starts its own PostgreSQL server (``tests/pgserver.py``); prints seconds per store and the
ratio PostgreSQL / file.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from benchmarks.plan_1000 import CONFIG, SPEC, median_run, reconciler
from tests.pgserver import benchmark_server

POSTGRES = "state:\n  backend: postgres\n  dsn: env:RECONCILER_PG_DSN\n"


def repository(root: Path, specs: int, postgres: bool) -> Path:
    root.mkdir()
    # Xplenty's documented 5,000 calls an hour is the adapter's default limit, and the
    # sandbox's: lifted on both sides, or 10,000 starts would take two hours.
    config = CONFIG.replace(
        "    concurrency: 8\n", "    concurrency: 8\n    rate_limit: {calls: 1000000, per: 1h}\n"
    )
    assert config != CONFIG
    (root / "reconciler.yaml").write_text(config + (POSTGRES if postgres else ""))
    (root / "specs").mkdir()
    for f in range((specs + 49) // 50):
        text = "".join(
            SPEC.format(i=i, package=100 + i % 7, day=1 + i % 28)
            for i in range(f * 50, min(specs, f * 50 + 50))
        )
        (root / "specs" / f"batch-{f:04d}.yaml").write_text(text)
    return root


SEED = "xplenty: {rate_limit: 1000000}\n"


def measure(root: Path, repeat: int) -> tuple[float, float, int]:
    """Seconds of the apply that starts every spec, of a plan after it (median), and the
    changes that plan found (0: a no-op)."""
    (root / "seed.yaml").write_text(SEED)
    sandbox = ("--sandbox", "--sandbox-seed", str(root / "seed.yaml"))
    applied, _ = reconciler(root, *sandbox, "apply", "--auto-approve")
    planned, out = median_run(root, repeat, *sandbox, "plan", "--format", "json")
    kinds = ("start", "stop", "replace", "retry", "adopt", "forget")
    changes = sum(1 for a in json.loads(out)["actions"] if a["kind"] in kinds)
    return applied, planned, changes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=1000)
    parser.add_argument("--noop", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("XPLENTY_API_KEY", "bench")
    with benchmark_server() as server, tempfile.TemporaryDirectory() as tmp:
        for label, specs, pick in (
            (f"apply, {args.starts} starts", args.starts, 0),
            (f"no-op plan, {args.noop} specs", args.noop, 1),
        ):
            figures: dict[str, float] = {}
            for store in ("file", "postgres"):
                os.environ["RECONCILER_PG_DSN"] = server.new_database("bench")
                root = repository(Path(tmp) / f"{store}-{specs}", specs, store == "postgres")
                applied, planned, changes = measure(root, args.repeat)
                if changes:
                    raise SystemExit(f"{store}: the plan after the apply has {changes} changes")
                figures[store] = (applied, planned)[pick]
            file_s, pg_s = figures["file"], figures["postgres"]
            print(
                f"{label:<30} file {file_s:.2f}s, postgres {pg_s:.2f}s, ratio {pg_s / file_s:.2f}"
            )


if __name__ == "__main__":
    main()
