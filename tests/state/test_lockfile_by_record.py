"""A lockfile laid out as reconciler writes it is read a record at a time (issue 20: the
whole document at once was first parsed into a tree of ~250 MB at 100,000 records). Read so
or damaged anywhere, it reads exactly as the whole document does: the same lockfile, or the
same problems."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import InputError
from reconciler.spec.runs import RunStatus
from reconciler.state.document import parse_json_document
from reconciler.state.lockfile import _by_record, lockfile_text, parse_lockfile
from reconciler.state.model import Lockfile, ProviderState, RunRecord, ScheduleState
from tests.state.test_readers_fuzz import damaged
from tests.state.test_store_conformance import record

T0 = datetime(2026, 12, 7, 3, tzinfo=UTC)


def run(name: str) -> RunRecord:
    """A failed run whose strings need escaping in JSON."""
    return record(name, "7").model_copy(
        update={
            "status": RunStatus.FAILED,
            "failure": 'exit 1: "quoted", back\\slash, é, \u2028',
            "job": {"cluster_id": 1, "package_id": 2, "variables": {"A": "x\ny"}},
            "started_at": T0,
        }
    )


LOCK = Lockfile(
    lineage="l",
    serial=3,
    providers={"etl": ProviderState(observed_at=T0)},
    runs={name: run(name) for name in ("b-run", "a-run", "c-run", "é-run")},
    schedules={"a-run": ScheduleState(since=T0)},
)
TEXT = lockfile_text(LOCK)


def outcome(read: Any, text: str) -> object:
    try:
        return read(text)
    except InputError as exc:
        return exc.lines()


def whole(text: str) -> Lockfile:
    return parse_json_document(text, Lockfile, "reconciler.lock", version_field="version")


def test_as_written_it_is_read_a_record_at_a_time() -> None:
    assert _by_record(TEXT) == LOCK == whole(TEXT)
    assert list(_by_record(TEXT).runs) == sorted(LOCK.runs)  # type: ignore[union-attr]
    assert _by_record(lockfile_text(LOCK.model_copy(update={"runs": {}}))) is None


@st.composite
def edited(draw: st.DrawFn) -> str:
    """The written text with one line of a run damaged, or the layout edited by hand."""
    lines = TEXT.split("\n")
    at = lines.index('  "runs": {') + 1 + draw(st.integers(0, len(LOCK.runs) - 1))
    name, _, record = lines[at].strip().rstrip(",").partition(": ")
    comma = "," if lines[at].endswith(",") else ""
    kind = draw(
        st.sampled_from(
            ["record", "no comma", "extra comma", "twice", "rename", "blank", "join", "indent"]
        )
    )
    if kind == "record":
        document = draw(damaged(json.loads(record)))
        lines[at] = f"    {name}: {json.dumps(document, separators=(',', ':'))}{comma}"
    elif kind == "no comma":
        lines[at] = lines[at].rstrip(",")
    elif kind == "extra comma":
        lines[at] = lines[at].rstrip(",") + ","
    elif kind == "twice":
        lines.insert(at, lines[at].rstrip(",") + ",")
    elif kind == "rename":
        lines[at] = lines[at].replace(name, json.dumps(draw(st.text(max_size=6))), 1)
    elif kind == "blank":
        lines.insert(at, "")
    elif kind == "join" and comma:
        lines[at : at + 2] = [lines[at] + " " + lines[at + 1].strip()]
    else:
        lines[at] = "  " + lines[at]
    return "\n".join(lines)


@settings(max_examples=150, deadline=None)
@given(edited())
def test_damaged_or_edited_it_reads_as_the_whole_document(text: str) -> None:
    expected = outcome(whole, text)
    assert outcome(lambda t: parse_lockfile(t, "reconciler.lock"), text) == expected
    fast = _by_record(text)
    assert fast is None or fast == expected
