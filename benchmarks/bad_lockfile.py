"""How long reading a lockfile takes to refuse one bad record among many, against all valid.

    .venv/bin/python -m benchmarks.bad_lockfile [--records 100000] [--repeat 3]

Lays out a lockfile of N records as reconciler writes it, then the same with one record's
status edited by hand to a value no run has; prints the median seconds of
``state.lockfile.parse_lockfile`` for each and the refusal's line. An error path should cost
about what the happy path does: the schema check (jsonschema, for its key paths) sees only
the records the model refused.
"""

from __future__ import annotations

import argparse
import statistics
import time

from reconciler.errors import InputError
from reconciler.state.lockfile import lockfile_text, parse_lockfile
from reconciler.state.model import new_lockfile
from tests.state.test_store_conformance import record, with_runs


def timed(text: str, repeat: int) -> tuple[float, str]:
    seconds: list[float] = []
    refusal = ""
    for _ in range(repeat):
        began = time.perf_counter()
        try:
            parse_lockfile(text, "reconciler.lock")
        except InputError as exc:
            refusal = "; ".join(exc.lines())
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), refusal


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lock = with_runs(new_lockfile(), *(record(f"run-{n}", str(n)) for n in range(args.records)))
    text = lockfile_text(lock)
    middle = f'"name":"run-{args.records // 2}"'
    at = text.index(middle)
    status = text.index('"status":"running"', at)
    bad = text[:status] + '"status":"exploded"' + text[status + len('"status":"running"') :]
    valid, _ = timed(text, args.repeat)
    refused, why = timed(bad, args.repeat)
    print(f"{args.records} records ({len(text) / 1e6:.1f} MB): valid {valid:.2f}s")
    print(f"one bad record: {refused:.2f}s ({refused / valid:.2f}x): {why}")


if __name__ == "__main__":
    main()
