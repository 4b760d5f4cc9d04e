from __future__ import annotations

import asyncio
import contextlib
import difflib
import fcntl
import json
import multiprocessing
import os
import resource
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reconciler import __version__
from reconciler.errors import (
    InputError,
    JournalWriteError,
    LockHeldError,
    StaleLockError,
    StateError,
)
from reconciler.spec.runs import RunStatus, StopReason
from reconciler.state.document import dump_json
from reconciler.state.entries import IntentEntry, fold
from reconciler.state.journal import Journal, read_entries
from reconciler.state.lock import StateLock, force_unlock
from reconciler.state.lockfile import read_lockfile, write_lockfile
from reconciler.state.model import Lockfile, RunRecord, new_lockfile


def record(
    name: str = "a", run_id: str | None = "1", status: RunStatus = RunStatus.RUNNING
) -> RunRecord:
    return RunRecord(
        name=name,
        instance="etl",
        provider_type="xplenty",
        revision="r",
        key="k",
        attempt=1,
        run_id=run_id,
        status=status,
        job={"cluster_id": 1},
    )


def test_write_is_atomic_sorted_and_bumps_serial(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock"
    lock = new_lockfile().model_copy(update={"runs": {"b": record("b"), "a": record("a")}})
    written = write_lockfile(path, lock)
    assert written.serial == 1
    text = path.read_text()
    assert list(json.loads(text)["runs"]) == ["a", "b"]
    assert text.splitlines()[4:8] == [
        '  "runs": {',
        f'    "a": {record("a").model_dump_json()},',
        f'    "b": {record("b").model_dump_json()}',
        "  },",
    ]
    assert read_lockfile(path, "reconciler.lock") == written
    assert [p.name for p in tmp_path.iterdir()] == ["reconciler.lock"]  # no temp file left
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def test_a_write_changes_a_line_per_record_changed(tmp_path: Path) -> None:
    """The lockfile's git diff per apply is proportional to the actions taken: a record per
    line."""
    path = tmp_path / "reconciler.lock"
    runs = {name: record(name) for name in ("a", "b", "c", "d")}
    first = write_lockfile(path, new_lockfile().model_copy(update={"runs": runs}))
    before = path.read_text().splitlines()
    changed = {**runs, "b": record("b", status=RunStatus.SUCCEEDED), "e": record("e")}
    second = write_lockfile(path, first.model_copy(update={"runs": changed}))
    after = path.read_text().splitlines()
    diff = [line for line in difflib.unified_diff(before, after, n=0) if line[:1] in "+-"]
    assert [line[:8] for line in diff[2:]] == [
        '-    "b"',
        '+    "b"',
        '-    "d"',  # now followed by a comma
        '+    "d"',
        '+    "e"',
        '-  "seri',
        '+  "seri',
    ]
    assert read_lockfile(path, "reconciler.lock") == second


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_what_we_write_passes_the_committed_json_schema(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock"
    lock = new_lockfile().model_copy(update={"runs": {"a": record("a"), "b": record("b", None)}})
    written = json.loads(dump_json(write_lockfile(path, lock)))
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "lockfile.v1.json").read_text())
    jsonschema.validate(written, schema)


def test_lax_coercions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock"
    data = json.loads(dump_json(new_lockfile().model_copy(update={"lineage": "l"})))
    text = json.dumps({**data, "serial": "3"})  # all on one line: the column tells
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_lockfile(path, "reconciler.lock")
    column = text.index('"serial"') + 1
    assert caught.value.lines() == [
        f"reconciler.lock:1:{column}: serial: '3' is not of type 'integer'"
    ]


def test_missing_lockfile_is_a_new_state(tmp_path: Path) -> None:
    lock = read_lockfile(tmp_path / "none.lock", "none.lock")
    assert (lock.serial, lock.runs) == (0, {})


def test_corrupt_lockfile_reports_json_position(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock"
    path.write_text('{\n  "serial": 1,\n  oops\n}\n')
    with pytest.raises(InputError) as caught:
        read_lockfile(path, "reconciler.lock")
    assert caught.value.lines() == [
        "reconciler.lock:3:3: invalid JSON: Expecting property name enclosed in double quotes"
    ]


def test_lockfile_of_a_newer_format_says_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock"
    data = json.loads(dump_json(new_lockfile()))
    path.write_text(
        json.dumps({**data, "version": 2, "reconciler_version": "0.4.0", "new_field": {}}, indent=2)
    )
    with pytest.raises(InputError) as caught:
        read_lockfile(path, "reconciler.lock")
    assert caught.value.lines() == [
        "reconciler.lock:2:3: version: format version 2 was written by reconciler 0.4.0; this is "
        f"reconciler {__version__}, which reads up to version 1: upgrade reconciler"
    ]


def test_written_lockfile_names_the_release_that_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock"
    write_lockfile(path, new_lockfile())
    assert json.loads(path.read_text())["reconciler_version"] == __version__


def test_hand_edited_lockfile_fails_schema_with_key_path(tmp_path: Path) -> None:
    """Each problem at the line and column of what its key path names (a record is a line),
    in the order of the file."""
    path = tmp_path / "reconciler.lock"
    write_lockfile(
        path, new_lockfile().model_copy(update={"runs": {"a": record("a"), "b": record("b")}})
    )
    lines = path.read_text().split("\n")
    assert lines[5].startswith('    "a": {')
    assert lines[6].startswith('    "b": {')
    assert lines[9] == '  "serial": 1,'
    lines[5] = lines[5].replace('"key":"k",', "")
    lines[6] = lines[6].replace('"status":"running"', '"status":"exploded"')
    lines[9] = '  "serial": -1,'
    path.write_text("\n".join(lines))
    with pytest.raises(InputError) as caught:
        read_lockfile(path, "reconciler.lock")
    assert caught.value.lines() == [
        "reconciler.lock:6:5: runs.a: 'key' is a required property",
        "reconciler.lock:7:115: runs.b.status: 'exploded' is not one of ['pending', 'running', "
        "'stopping', 'succeeded', 'failed', 'stopped', 'unknown']",
        "reconciler.lock:10:3: serial: -1 is less than the minimum of 0",
    ]
    assert lines[6].index('"status"') + 1 == 115


def test_journal_fold_intent_started_stop(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path)

    async def write() -> None:
        await journal.intent(record("a", run_id=None, status=RunStatus.UNKNOWN))
        await journal.started("a", "41", RunStatus.PENDING, None)
        await journal.intent(record("b", run_id=None, status=RunStatus.UNKNOWN))  # no answer
        await journal.stop_requested("c", "9", StopReason.SPEC, RunStatus.STOPPING)

    asyncio.run(write())
    journal.close()
    with path.open("a") as handle:
        handle.write('{"op": "started", "name": "b", "run')  # torn last line
    lock = Lockfile(lineage="l", serial=3, runs={"c": record("c", run_id="9")})
    folded = fold(lock, read_entries(path))
    assert folded.runs["a"].run_id == "41"
    assert folded.runs["a"].status is RunStatus.PENDING
    assert folded.runs["b"].run_id is None
    assert (folded.runs["c"].status, folded.runs["c"].stop_reason) == (
        RunStatus.STOPPING,
        StopReason.SPEC,
    )


def test_a_stop_intent_alone_marks_the_run_as_stopped_by_us(tmp_path: Path) -> None:
    """Killed during the stop call: the reason is known, the status waits for observation."""
    path = tmp_path / "j"
    journal = Journal(path)
    asyncio.run(journal.stop_intent("c", "9", StopReason.SPEC))
    asyncio.run(journal.stop_intent("d", "old", StopReason.PRUNE))  # not the recorded run
    journal.close()
    running = {"c": record("c", run_id="9"), "d": record("d", run_id="10")}
    folded = fold(Lockfile(lineage="l", serial=3, runs=running), read_entries(path))
    assert (folded.runs["c"].status, folded.runs["c"].stop_reason) == (
        running["c"].status,
        StopReason.SPEC,
    )
    assert folded.runs["d"] == running["d"]


def _append_under_a_size_limit(path: str, limit: int) -> None:
    """In a child process: a file size limit cuts the second line short, then refuses it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    journal = Journal(Path(path))
    asyncio.run(journal.start_failed("a"))
    with contextlib.suppress(JournalWriteError):
        asyncio.run(journal.intent(record("b", run_id=None)))
    asyncio.run(journal.start_failed("c"))  # a short line that would fit: refused all the same


def test_a_line_the_journal_cannot_take_in_full_is_cut_off_and_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    child = multiprocessing.Process(target=_append_under_a_size_limit, args=(str(path), 100))
    child.start()
    child.join(30)
    assert child.exitcode == 1  # the last append raised too: nothing more is written
    assert path.read_text() == '{"name":"a","op":"start_failed"}\n'


def test_refused_start_restores_the_displaced_record(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path)

    async def write() -> None:
        await journal.intent(record("a", run_id=None))
        await journal.start_failed("a")
        await journal.intent(record("new", run_id=None))
        await journal.start_failed("new")

    asyncio.run(write())
    journal.close()
    old = record("a", run_id="5", status=RunStatus.SUCCEEDED)
    folded = fold(Lockfile(lineage="l", serial=1, runs={"a": old}), read_entries(path))
    assert folded.runs == {"a": old}


def test_concurrent_journal_entries_share_fsyncs(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path)

    async def write() -> None:
        names = [f"r{i:02d}" for i in range(50)]
        await asyncio.gather(*(journal.intent(record(n, run_id=None)) for n in names))

    asyncio.run(write())
    journal.close()
    assert sorted(e.record.name for e in read_entries(path) if isinstance(e, IntentEntry)) == [
        f"r{i:02d}" for i in range(50)
    ]
    assert 1 <= journal.syncs < 50  # the first entry's fsync, then one for all the others


def test_an_outcome_is_written_at_once_and_made_durable_by_the_next_intent(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    journal = Journal(path)

    async def write() -> None:
        await journal.intent(record("a", run_id=None))
        synced = journal.syncs
        await journal.started("a", "7", RunStatus.RUNNING, None)
        await journal.start_failed("b")
        await journal.stop_requested("c", "3", StopReason.SPEC, RunStatus.STOPPING)
        assert journal.syncs == synced  # written, not waited for
        assert [type(e).__name__ for e in read_entries(path)] == [
            "IntentEntry",
            "StartedEntry",
            "StartFailedEntry",
            "StopEntry",
        ]  # in the file, as a kill would leave it
        await journal.intent(record("d", run_id=None))
        assert journal.syncs == synced + 1  # which covers them

    asyncio.run(write())
    journal.close()


def _hold(
    path: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event
) -> None:
    with StateLock(Path(path), "reconciler apply --auto-approve"):
        ready.set()
        done.wait(10)


@contextmanager
def another_holder(path: Path) -> Iterator[tuple[multiprocessing.Process, Any]]:
    """A separate process holding the lock until the yielded event is set (or it is killed)."""
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(path), ready, done))
    holder.start()
    try:
        assert ready.wait(10)
        yield holder, done
    finally:
        if holder.is_alive():  # a killed holder may have died holding the event's own lock
            done.set()
        holder.join(10)


def test_second_locker_fails_fast_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock.lck"
    with another_holder(path) as (holder, _):
        with pytest.raises(LockHeldError) as caught, StateLock(path, "reconciler apply"):
            pass
        message = str(caught.value)
        assert f"pid {holder.pid} on " in message
        assert "(reconciler apply --auto-approve, since " in message
    with StateLock(path, "reconciler apply"):  # released when the holder ended
        pass


def test_lock_of_a_killed_holder_is_taken_over_with_a_notice(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock.lck"
    with another_holder(path) as (holder, _):
        holder.kill()
        holder.join(10)
    with StateLock(path, "reconciler apply") as lock:
        assert lock.taken_over is not None
        assert lock.taken_over.pid == holder.pid
    with StateLock(path, "reconciler apply") as lock:  # released cleanly: nothing to take over
        assert lock.taken_over is None


def test_lock_timeout_waits_for_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock.lck"
    with another_holder(path) as (_, done):
        threading.Timer(0.5, done.set).start()
        with StateLock(path, "reconciler apply", timeout=20) as lock:
            assert lock.taken_over is None


def _note(path: Path, **fields: object) -> None:
    holder = {"id": "abc123", "pid": 4242, "host": "ci-runner-7", "command": "reconciler apply"}
    path.write_text(json.dumps({**holder, "since": "2026-11-22T10:00:00+00:00", **fields}))


def test_note_from_another_host_is_reported_stale_with_the_command(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock.lck"
    _note(path)
    with pytest.raises(StaleLockError) as caught, StateLock(path, "reconciler apply"):
        pass
    assert str(caught.value) == (
        "the state lock is noted as held by pid 4242 on ci-runner-7 (reconciler apply, since "
        "2026-11-22T10:00:00+00:00; lock abc123), which cannot be checked from this machine; "
        "if that process is gone, clear it with: reconciler force-unlock abc123"
    )
    with pytest.raises(StateError, match="the state lock is abc123, not nope; nothing cleared"):
        force_unlock(path, "nope")
    assert force_unlock(path, "abc123").pid == 4242
    with StateLock(path, "reconciler apply") as lock:
        assert lock.taken_over is None


def test_contender_names_a_new_holder_whose_note_is_not_yet_written(tmp_path: Path) -> None:
    # The new holder has the OS lock; the note on disk is still its dead predecessor's.
    path = tmp_path / "reconciler.lock.lck"
    gone = multiprocessing.Process(target=os.getpid)
    gone.start()
    gone.join(10)
    _note(path, id="dead01", pid=gone.pid, host=socket.gethostname())
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        write_note = threading.Timer(
            0.3,
            _note,
            args=(path,),
            kwargs={"id": "live01", "pid": os.getpid(), "host": socket.gethostname()},
        )
        write_note.start()
        with pytest.raises(LockHeldError, match="lock live01"), StateLock(path, "reconciler plan"):
            pass
        write_note.join()
    finally:
        os.close(fd)


def test_force_unlock_refuses_a_live_holder(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock.lck"
    with another_holder(path):
        lock_id = json.loads(path.read_text())["id"]
        with pytest.raises(StateError, match=f"lock {lock_id} is held by a live process: pid "):
            force_unlock(path, lock_id)
