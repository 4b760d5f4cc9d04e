"""A damaged lockfile or saved plan is refused with the line and column of what each problem's
key path names (issue 12: ``file:line:col: key.path: problem``), however the JSON is laid out."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from reconciler.app.saved_plan import read_plan
from reconciler.errors import InputError
from reconciler.state.lockfile import parse_lockfile
from tests.state.test_lockfile_by_record import TEXT, edited
from tests.state.test_readers_fuzz import LOCKFILE, PLAN, damaged


def problems(text: str) -> list[tuple[int, int, str, str]]:
    """(line, column, key path, the text there) of each placed problem of a lockfile."""
    try:
        parse_lockfile(text, "reconciler.lock")
    except InputError as exc:
        lines = text.split("\n")
        return [
            (p.line, p.column, p.path, lines[p.line - 1][p.column - 1 :])
            for p in exc.problems
            if p.line is not None and p.column is not None and p.path
        ]
    return []


def named_there(path: str, there: str) -> bool:
    """The text at a problem's place is a key its path names, or an array's item."""
    if there[:1] == '"':
        key, _ = json.JSONDecoder().raw_decode(there)
        return isinstance(key, str) and key in path
    return "[" in path


@settings(max_examples=100, deadline=None)
@given(damaged(LOCKFILE))
def test_each_problem_is_placed_at_a_key_its_path_names(document: Any) -> None:
    for text in (json.dumps(document), json.dumps(document, indent=2)):
        for line, column, path, there in problems(text):
            assert named_there(path, there), (line, column, path, there)


@settings(max_examples=100, deadline=None)
@given(edited())
def test_a_record_edited_in_place_is_named_at_its_line(text: str) -> None:
    for _, _, path, there in problems(text):
        assert named_there(path, there), (path, there)


def test_records_as_written_are_placed_at_their_own_line() -> None:
    lines = TEXT.split("\n")
    at = lines.index('  "runs": {') + 2  # the second record: b-run
    assert lines[at].startswith('    "b-run": {')
    lines[at] = lines[at].replace('"attempt":1', '"attempt":"1"')
    text = "\n".join(lines)
    column = lines[at].index('"attempt"') + 1
    assert [(p[0], p[1], p[2]) for p in problems(text)] == [(at + 1, column, "runs.b-run.attempt")]


def test_a_key_given_twice_is_placed_at_the_one_json_reads() -> None:
    """json keeps the last of a key given twice, and so it is checked and placed."""
    text = TEXT.replace('  "serial": 3,', '  "serial": 3,\n  "serial": -1,')
    serial = text.split("\n").index('  "serial": -1,') + 1
    assert problems(text) == [(serial, 3, "serial", '"serial": -1,')]


def test_a_saved_plan_problem_is_placed_too(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    text = json.dumps({**PLAN, "prune": "yes"}, indent=2)
    path.write_text(text)
    prune = text.split("\n").index('  "prune": "yes",') + 1
    with pytest.raises(InputError) as caught:
        read_plan(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.column, str(problem).partition(": ")[2]) == (
        prune,
        3,
        "prune: 'yes' is not of type 'boolean'",
    )


def test_a_whole_document_problem_has_no_place() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "reconciler.lock"
        path.write_text("[1, 2]\n")
        with pytest.raises(InputError) as caught:
            parse_lockfile(path.read_text(), "reconciler.lock")
    assert caught.value.lines() == ["reconciler.lock: (document): [1, 2] is not of type 'object'"]
