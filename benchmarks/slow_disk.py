"""Apply N starts on the sandbox as on a disk whose fsync is slow, and count the fsyncs.

    .venv/bin/python benchmarks/slow_disk.py [--specs 1000] [--fsync-ms 0 5]

Runs `reconciler --sandbox apply --auto-approve` under strace, which adds the given delay to
every fsync (`-e inject=fsync:delay_exit=`) and counts them. The journal's fsyncs are the
price of exactly-once starts; this shows what group commit saves on slow disks (network
volumes, CI runners). Needs strace (Debian package `strace`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plan_1000 import CONFIG, SPEC


def write_repository(root: Path, specs: int) -> None:
    (root / "reconciler.yaml").write_text(CONFIG)
    (root / "specs").mkdir()
    for f in range(0, specs, 50):
        text = "".join(
            SPEC.format(i=i, package=100 + i % 7, day=1 + i % 28)
            for i in range(f, min(f + 50, specs))
        )
        (root / "specs" / f"batch-{f // 50:03d}.yaml").write_text(text)


def apply_under_strace(root: Path, delay_ms: float) -> tuple[float, int]:
    strace = ["strace", "-f", "--seccomp-bpf", "-qq", "-c", "-e", "trace=fsync"]
    if delay_ms:
        strace += ["-e", f"inject=fsync:delay_exit={int(delay_ms * 1000)}"]
    command = [*strace, sys.executable, "-m", "reconciler"]
    command += ["--config", str(root / "reconciler.yaml"), "--sandbox", "apply", "--auto-approve"]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, check=False)
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"apply failed ({done.returncode}):\n{done.stderr[-2000:]}")
    # strace -c's table: % time, seconds, usecs/call, calls, [errors,] syscall
    rows = [line.split() for line in done.stderr.splitlines()]
    calls = next((int(row[3]) for row in rows if row and row[-1] == "fsync"), 0)
    return elapsed, calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--specs", type=int, default=1000)
    parser.add_argument("--fsync-ms", type=float, nargs="+", default=[0.0, 5.0])
    args = parser.parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("needs strace (apt-get install strace)")
    print(f"{args.specs} starts, python {sys.version.split()[0]}")
    print(f"{'fsync delay':<14} {'seconds':>8} {'fsyncs':>8}")
    for delay in args.fsync_ms:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_repository(root, args.specs)
            seconds, fsyncs = apply_under_strace(root, delay)
        print(f"{f'{delay:g} ms':<14} {seconds:>8.2f} {fsyncs:>8}")


if __name__ == "__main__":
    main()
