"""Validate, plan, apply and re-plan N specs on the sandbox through the real CLI.

    .venv/bin/python benchmarks/plan_1000.py [--specs 1000] [--repeat 3]

Prints wall-clock seconds per command (median of --repeat for the read-only ones) and the API
calls each plan's refresh made (from the plan's own `refresh_calls`).
"""

from __future__ import annotations

import argparse
import json
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
    concurrency: 8
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
    variables: {{START: "'2026-11-{day:02d}'", BATCH: "'{i}'"}}
  state: completed
  retry: {{limit: 2}}
  timeout: 2h
"""


def reconciler(root: Path, *args: str) -> tuple[float, str]:
    command = [sys.executable, "-m", "reconciler", "--config", str(root / "reconciler.yaml"), *args]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, done.stdout


def median_run(root: Path, repeat: int, *args: str) -> tuple[float, str]:
    runs = [reconciler(root, *args) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--specs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "reconciler.yaml").write_text(CONFIG)
        (root / "specs").mkdir()
        for f in range(args.specs // 50):
            text = "".join(
                SPEC.format(i=i, package=100 + i % 7, day=1 + i % 28)
                for i in range(f * 50, f * 50 + 50)
            )
            (root / "specs" / f"batch-{f:03d}.yaml").write_text(text)

        rows = []
        t, _ = median_run(root, args.repeat, "validate")
        rows.append(("validate", t, "-"))
        t, out = median_run(root, args.repeat, "--sandbox", "plan", "--format", "json")
        plan = json.loads(out)
        rows.append(("plan (no lockfile)", t, plan["refresh_calls"]["etl"]))
        starts = sum(1 for a in plan["actions"] if a["kind"] == "start")
        t, _ = reconciler(root, "--sandbox", "apply", "--auto-approve")
        rows.append((f"apply ({starts} starts)", t, "-"))
        t, out = median_run(root, args.repeat, "--sandbox", "plan", "--format", "json")
        plan = json.loads(out)
        changes = sum(
            1
            for a in plan["actions"]
            if a["kind"] in ("start", "stop", "replace", "retry", "adopt", "forget")
        )
        rows.append((f"plan after apply ({changes} changes)", t, plan["refresh_calls"]["etl"]))

    version = sys.version.split()[0]
    print(f"{args.specs} specs, python {version}, median of {args.repeat} for read-only commands")
    print(f"{'command':<34} {'seconds':>8} {'API calls':>10}")
    for name, seconds, calls in rows:
        print(f"{name:<34} {seconds:>8.2f} {calls!s:>10}")


if __name__ == "__main__":
    main()
