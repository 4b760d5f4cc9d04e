"""How long `validate` takes to refuse one bad document among many, against all valid.

    .venv/bin/python benchmarks/bad_document.py [--documents 10000] [--repeat 3]

Writes one spec file of N documents (all valid, then the same with one bad value in the
middle document) and prints the median wall-clock seconds and the peak resident memory of
`reconciler validate` for each: an error path should cost about what the happy path does.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """\
apiVersion: reconciler/v1
kind: Config
providers:
  etl:
    type: xplenty
    base_url: https://api.xplenty.com
    account: bench
    credentials:
      api_key: env:XPLENTY_API_KEY
specs: [specs]
"""

SPEC = """\
---
apiVersion: reconciler/v1
kind: JobRun
metadata:
  name: run-{i:05d}
  labels: {{team: bench}}
spec:
  provider: etl
  job:
    cluster_id: 167
    package_id: {package}
    variables: {{day: "2026-12-01"}}
"""


def write_repository(root: Path, documents: int, bad: bool) -> None:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(CONFIG)
    middle = documents // 2
    text = "".join(
        SPEC.format(i=i, package="many" if bad and i == middle else 100 + i)
        for i in range(documents)
    )
    (root / "specs" / "all.yaml").write_text(text)


def measure(root: Path) -> tuple[float, float, int]:
    """Seconds, peak resident MB and exit code of one `validate` (os.wait4: this child's own
    figures, not the largest child's so far)."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, child.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for bad in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_repository(root, args.documents, bad)
            runs = [measure(root) for _ in range(args.repeat)]
        seconds = statistics.median(r[0] for r in runs)
        label = "one bad document" if bad else "all valid"
        print(
            f"{label:>16}: {seconds:5.2f} s, peak {max(r[1] for r in runs):4.0f} MB, "
            f"exit {runs[0][2]}"
        )


if __name__ == "__main__":
    main()
