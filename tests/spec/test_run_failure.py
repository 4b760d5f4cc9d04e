"""A failure's account as the lockfile keeps it: one line, no control characters, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.spec.runs import FAILURE_LIMIT, ObservedRun, RunFailure, RunStatus, one_line


def test_summary_names_reason_exit_code_and_message() -> None:
    failure = RunFailure("task meltano elt failed", "tap exited", 2)
    assert failure.summary() == "task meltano elt failed (exit code 2): tap exited"
    assert RunFailure("job failed").summary() == "job failed"


def test_controls_become_one_space_and_the_text_is_bounded() -> None:
    hostile = "line one\r\n\x1b[2J\u202eevil\x00" + "x" * 1000
    text = RunFailure("job failed", hostile).summary()
    assert text.startswith("job failed: line one [2J evil xxx")
    assert (len(text), text[-1]) == (FAILURE_LIMIT, "\u2026")
    assert one_line("\n\t a \x85 b \u2028") == "a b"


def test_elapsed_is_the_apis_count_else_start_to_end_or_now() -> None:
    start = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    now = start + timedelta(minutes=5)
    run = ObservedRun("1", None, RunStatus.RUNNING, "running", started_at=start)
    assert run.elapsed_at(now) == timedelta(minutes=5)
    ended = ObservedRun("1", None, RunStatus.FAILED, "failed", started_at=start, ended_at=start)
    assert ended.elapsed_at(now) == timedelta(0)
    counted = ObservedRun("1", None, RunStatus.RUNNING, "running", elapsed=timedelta(seconds=7))
    assert counted.elapsed_at(now) == timedelta(seconds=7)
    assert ObservedRun("1", None, RunStatus.PENDING, "idle").elapsed_at(now) is None
