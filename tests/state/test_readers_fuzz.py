"""Property-based tests of the state readers: a damaged or hostile journal, lockfile or saved
plan is read or refused with a ``ReconcilerError``, and nothing is written."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import __version__
from reconciler.app.saved_plan import read_plan
from reconciler.engine.actions import Plan
from reconciler.errors import ReconcilerError
from reconciler.spec.runs import RunStatus
from reconciler.state.document import dump_json
from reconciler.state.entries import fold
from reconciler.state.journal import read_entries
from reconciler.state.lockfile import read_lockfile
from reconciler.state.model import Lockfile, RunRecord

FUZZ = settings(max_examples=120, deadline=None)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "2026-02-30T00:00:00Z", "yesterday", "running", "intent", "9" * 40]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)

RECORD = RunRecord(
    name="a",
    instance="etl",
    provider_type="xplenty",
    revision="r1",
    key="k",
    attempt=1,
    run_id=None,
    status=RunStatus.UNKNOWN,
    job={"cluster_id": 1, "package_id": 2},
).model_dump(mode="json")
ENTRIES: list[dict[str, Any]] = [
    {"op": "intent", "record": RECORD},
    {"op": "started", "name": "a", "run_id": "1", "status": "pending", "started_at": None},
    {"op": "start_failed", "name": "a"},
    {"op": "stop_intent", "name": "a", "run_id": "1", "reason": "spec"},
    {"op": "stop", "name": "a", "run_id": "1", "reason": "spec", "status": "stopping"},
]


@st.composite
def damaged(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one value somewhere in it replaced, a key dropped or added."""
    if not isinstance(document, dict | list) or not document or draw(st.integers(0, 4)) == 0:
        return draw(values)
    keys = list(document) if isinstance(document, dict) else list(range(len(document)))
    key = draw(st.sampled_from(keys))
    copy = dict(document) if isinstance(document, dict) else list(document)
    action = draw(st.sampled_from(["replace", "descend", "drop", "add"]))
    if action == "drop" and isinstance(copy, dict):
        del copy[key]
    elif action == "add" and isinstance(copy, dict):
        copy[draw(st.text(max_size=8))] = draw(values)
    elif action == "descend":
        copy[key] = draw(damaged(document[key]))
    else:
        copy[key] = draw(values)
    return copy


def _lines(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["entry", "damaged", "text"]))
        entry = draw(st.sampled_from(ENTRIES))
        if kind == "entry":
            lines.append(json.dumps(entry))
        elif kind == "damaged":
            lines.append(json.dumps(draw(damaged(entry))))
        else:
            lines.append(draw(st.text(max_size=30)).replace("\n", " "))
    torn = draw(st.text(max_size=10)) if draw(st.booleans()) else ""
    return "\n".join(lines) + "\n" + torn.replace("\n", " ")


journals = st.composite(lambda draw: _lines(draw))()


def _unchanged(directory: Path, before: dict[str, bytes]) -> None:
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


def _check(directory: Path, name: str, text: str, read: Any) -> None:
    path = directory / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    lines = None
    try:
        read(path)
    except ReconcilerError as exc:
        lines = exc.lines()
    assert lines is None or all(line.strip() for line in lines)
    _unchanged(directory, before)


@FUZZ
@given(journals)
def test_a_damaged_journal_is_read_or_refused(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        _check(
            Path(directory),
            "reconciler.lock.journal",
            text,
            lambda path: fold(Lockfile(lineage="l", serial=1), read_entries(path)),
        )


LOCKFILE = json.loads(
    dump_json(Lockfile(lineage="l", serial=3, runs={"a": RunRecord.model_validate(RECORD)}))
)


@FUZZ
@given(damaged(LOCKFILE))
def test_a_damaged_lockfile_is_read_or_refused(document: Any) -> None:
    with tempfile.TemporaryDirectory() as directory:
        _check(
            Path(directory),
            "reconciler.lock",
            json.dumps(document),
            lambda path: read_lockfile(path, "reconciler.lock"),
        )


@FUZZ
@given(st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")))
def test_a_lockfile_that_is_not_json_is_refused(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        _check(Path(directory), "reconciler.lock", text, lambda p: read_lockfile(p, "x"))


PLAN = json.loads(
    dump_json(
        Plan(
            reconciler_version=__version__,
            created_at=datetime(2026, 12, 1, tzinfo=UTC),
            lineage="l",
            serial=3,
            lockfile_digest="0" * 64,
            specs_digest="1" * 64,
            prune=False,
            records={"a": RunRecord.model_validate(RECORD)},
            actions=(),
            observed_at={"etl": None},
            refresh_calls={"etl": 1},
        )
    )
)


@FUZZ
@given(damaged(PLAN))
def test_a_damaged_saved_plan_is_read_or_refused(document: Any) -> None:
    with tempfile.TemporaryDirectory() as directory:
        _check(Path(directory), "plan.json", json.dumps(document), read_plan)
