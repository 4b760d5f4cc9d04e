"""A repository large enough that its spec files are read by several processes (issue 20):
through the real entry point, the same answer as one process gives, every problem of every
part at once, and the checks across parts (a name defined in two parts, `after` naming a
spec of another part) still made."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.app.spec_reading import MIN_BYTES_PER_PROCESS
from tests.conftest import CONFIG, jobrun
from tests.resilience.world import World

FILES = 80
PER_FILE = 20
PADDING = "# " + "x" * 60 + "\n"  # files of ~7 KB, as a commented spec file may be


def write_repository(root: Path) -> list[Path]:
    (root / "reconciler.yaml").write_text(CONFIG)
    (root / "specs").mkdir()
    return write_specs(root / "specs")


def write_specs(directory: Path) -> list[Path]:
    """FILES files of PER_FILE Xplenty specs (instance ``etl``), enough bytes for two
    reading processes."""
    paths = []
    for f in range(FILES):
        docs = [
            PADDING * 3 + jobrun(f"run-{f:03d}-{d:02d}", extra="state: completed\n")
            for d in range(PER_FILE)
        ]
        path = directory / f"batch-{f:03d}.yaml"
        path.write_text("---\n".join(docs))
        paths.append(path)
    assert sum(p.stat().st_size for p in paths) >= 2 * MIN_BYTES_PER_PROCESS
    return paths


def validate(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate"],
        cwd=root,
        env={**os.environ, "XPLENTY_API_KEY": "k"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_every_spec_of_every_part_is_read(tmp_path: Path) -> None:
    write_repository(tmp_path)
    done = validate(tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"{FILES * PER_FILE} spec(s) valid.\n",
        "",
    )


def test_problems_of_every_part_and_across_parts_at_once(tmp_path: Path) -> None:
    paths = write_repository(tmp_path)
    first, last = paths[0], paths[-1]
    first.write_text(first.read_text().replace("package_id: 103", "package_id: many", 1))
    text = last.read_text()
    text = text.replace("name: run-079-19\n", "name: run-000-05\n")  # also in the first part
    text = text.replace("provider: etl", "provider: elt", 1)  # the last part's first spec
    text += "  after: [run-000-03, run-000-01, missing-one]\n"  # spec of the first part
    last.write_text(text)
    done = validate(tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line.removeprefix("Error: ") for line in done.stderr.splitlines()]
    # 15 lines a document: three of padding, eleven of spec, the separator.
    assert lines == [
        "specs/batch-000.yaml:12:5: spec.job.package_id: "
        "Input should be a valid integer, unable to parse string as an integer",
        "specs/batch-079.yaml:9:3: spec.provider: "
        "unknown provider instance 'elt' (declared in reconciler.yaml: etl)",
        "specs/batch-079.yaml:292:3: metadata.name: "
        "duplicate name 'run-000-05' (also defined at specs/batch-000.yaml:82:3)",
        "specs/batch-079.yaml:300:35: spec.after[2]: no spec is named 'missing-one'",
    ]


@pytest.mark.timeout(300)
def test_read_by_other_processes_with_the_state_in_postgres(tmp_path: Path, pg_dsn: str) -> None:
    """With the state in PostgreSQL (the readers are forked before its connection opens):
    an apply starts each spec once, and the plan after it finds nothing to start."""
    world = World(tmp_path, per_provider=0)
    try:
        world.use_postgres(pg_dsn, lease=60)
        write_specs(world.repo / "specs")
        applied = world.run("apply", "--auto-approve", timeout=240)
        assert applied.returncode == 0, applied.stderr[-2000:]
        planned = world.run("plan", "--format", "json")
        assert planned.returncode == 0, planned.stderr[-2000:]
        twice = world.keys_started_twice()
        with sqlite3.connect(world.db) as db:
            started = db.execute("SELECT count(*) FROM xplenty_jobs").fetchone()[0]
    finally:
        world.close()
    kinds = {a["kind"] for a in json.loads(planned.stdout)["actions"]}
    assert kinds <= {"in-progress", "done"}, kinds
    assert (started, twice) == (FILES * PER_FILE, [])
