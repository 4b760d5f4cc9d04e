"""Scheduled specs end to end on the sandbox, its clock advanced: `apply` run on a timer, as
a CI schedule runs it, starts each occurrence within its deadline exactly once and records
every other one as missed; `plan` and `show` say what is due, next and missed."""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from reconciler.sandbox.store import Store
from tests.cli.test_watch import next_cycle, read_lines
from tests.conftest import CONFIG, Repo, jobrun

EVERY_FIVE = """\
schedule:
  cron: "*/5 * * * *"
  starting_deadline: 5m
  history: 1000
"""


def lockfile_at(root: Path) -> dict:  # type: ignore[type-arg]
    return dict(json.loads((root / "reconciler.lock").read_text()))


def lockfile(repo: Repo) -> dict:  # type: ignore[type-arg]
    return lockfile_at(repo.root)


def test_apply_every_17_minutes_for_a_day_starts_each_occurrence_in_time_once(
    repo: Repo, report_figure: Callable[[str], None]
) -> None:
    repo.spec("etl.yaml", jobrun("every-five", extra=EVERY_FIVE))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    first_seen = datetime.fromisoformat(lockfile(repo)["schedules"]["every-five"]["since"])
    applied_at = []
    for _ in range(24 * 60 // 17):
        repo.advance(17 * 60)
        code, out, err = repo.run("--sandbox", "apply", "--auto-approve")
        assert code == 0, out + err
        applied_at.append(datetime.fromisoformat(lockfile(repo)["providers"]["etl"]["observed_at"]))
    state = lockfile(repo)["schedules"]["every-five"]
    current = lockfile(repo)["runs"]["every-five"]
    history = state["history"]
    started = {datetime.fromisoformat(e["at"]): e["run_id"] for e in history if e["run_id"]}
    started[datetime.fromisoformat(current["occurrence"])] = current["run_id"]
    missed = {datetime.fromisoformat(e["at"]) for e in history if e["missed"]}

    occurrences = []
    at = first_seen.replace(second=0, microsecond=0) - timedelta(minutes=first_seen.minute % 5)
    while (at := at + timedelta(minutes=5)) <= applied_at[-1]:
        occurrences.append(at)
    in_time = {o for o in occurrences if any(o <= t < o + timedelta(minutes=5) for t in applied_at)}
    assert set(started) == in_time
    assert missed == set(occurrences) - in_time
    assert len(set(started.values())) == len(started) == repo.xplenty_jobs()
    assert len(started) >= 80  # every apply started one; the rest were missed
    assert len(missed) >= 190
    report_figure(
        f"schedule */5 for 24 h, apply every 17 min: {len(applied_at)} applies, "
        f"{len(occurrences)} occurrences, {len(started)} started once each, "
        f"{len(missed)} reported missed"
    )


def test_plan_and_show_say_what_is_next_and_what_was_missed(repo: Repo) -> None:
    # Daily, half a day from now in Berlin: three days on, the three occurrences are all over
    # by far more than their hour, whatever the time of day the test runs at (with a fixed
    # 02:00, a run between 02:00 and 03:00 Berlin time found the third in its hour, started).
    hour = (datetime.now(ZoneInfo("Europe/Berlin")).hour + 12) % 24
    cron = f"0 {hour} * * *"
    schedule = f'schedule: {{cron: "{cron}", timezone: Europe/Berlin, starting_deadline: 1h}}\n'
    repo.spec("etl.yaml", jobrun("nightly", extra=schedule))
    code, out, _ = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 0
    code, out, _ = repo.run("--sandbox", "plan")
    assert "Schedules:" in out
    assert "nightly  next: " in out
    assert " CET" in out or " CEST" in out
    repo.advance(3 * 86400)
    code, out, _ = repo.run("--sandbox", "plan", "--format", "json")
    plan = json.loads(out)
    assert plan["missed_occurrences"] >= 2
    code, out, _ = repo.run("--sandbox", "plan")
    assert "missed" in out
    assert "occurrence(s) missed" in out
    assert "not started within 1h of its time" in out
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    code, out, _ = repo.run("show", "--offline", "nightly")
    assert code == 0
    assert "no occurrence started yet" in out
    assert out.count("missed: not started within 1h of its time") == 3


@pytest.mark.timeout(300)
def test_watch_for_a_day_starts_every_occurrence_once(
    tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    """A cycle at least every 4 simulated minutes: each 5-minute occurrence is started in its
    time, once, by a watch process that also restarts halfway (its state is the lockfile)."""
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "etl.yaml").write_text(jobrun("every-five", extra=EVERY_FIVE))
    for _half in range(2):
        watcher = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "--sandbox", "watch", "--interval", "0.1"],
            cwd=tmp_path,
            env={**os.environ, "XPLENTY_API_KEY": "k"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=read_lines, args=(watcher.stdout, lines), daemon=True).start()
        try:
            for _ in range(12 * 60 // 4):
                cycle = next_cycle(lines, lambda c: True)
                assert cycle["status"] == "ok", cycle
                store = Store(tmp_path / ".reconciler" / "sandbox.db")
                store.advance(4 * 60)
                store.close()
        finally:
            watcher.send_signal(signal.SIGTERM)
            assert watcher.wait(20) == 0
            assert watcher.stdout is not None
            assert watcher.stderr is not None
            assert "Traceback" not in watcher.stderr.read()
            watcher.stdout.close()
            watcher.stderr.close()
    lock = lockfile_at(tmp_path)
    state = lock["schedules"]["every-five"]
    started = [e for e in state["history"] if e["run_id"]] + [lock["runs"]["every-five"]]
    times = sorted(datetime.fromisoformat(e.get("occurrence") or e["at"]) for e in started)
    assert not [e for e in state["history"] if e["missed"]]
    assert len(times) >= 24 * 60 // 5 - 2
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(times))
    with closing(Store(tmp_path / ".reconciler" / "sandbox.db")) as store:
        assert len(store.query("SELECT id FROM xplenty_jobs")) == len(times)
    report_figure(
        f"schedule */5 for 24 h under watch (a cycle every 4 simulated min, restarted at 12 h): "
        f"{len(times)} occurrences started once each, 0 missed"
    )
