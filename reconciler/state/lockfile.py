"""``reconciler.lock``: the file store's state document, committed beside the specs.

Written atomically (``state.files.write_atomic``); read strictly (``state.document``), so that
a hand edit gets a clear error with its key path.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from reconciler import __version__
from reconciler.state.document import parse_json_document
from reconciler.state.files import StateFiles, read_state_text, write_atomic
from reconciler.state.model import Lockfile, RunRecord, new_lockfile


def read_lockfile(path: Path, display: str) -> Lockfile:
    """The lockfile at ``path``; a new, empty one when there is none yet."""
    text = read_state_text(path)
    if text is None:
        return new_lockfile()
    return parse_lockfile(text, display)


def parse_lockfile(text: str, display: str) -> Lockfile:
    """A lockfile's text, read strictly: a record at a time when it is laid out as
    ``lockfile_text`` lays it, else (a hand edit, any problem) as one document."""
    lock = _by_record(text)
    if lock is not None:
        return lock
    return parse_json_document(text, Lockfile, display, version_field="version")


_RUNS = '\n  "runs": {\n'
_RUNS_END = "\n  }"
_RUN_LINE = re.compile(r'^    "([^"\\\n]*)": (\{[^\n]*\})(,?)$', re.MULTILINE)


def _by_record(text: str) -> Lockfile | None:
    """The lockfile with its runs' lines validated apart from the rest, a thousand at a time
    (the whole document at once is first parsed into a tree of values: a peak of 427 MB at
    100,000 records, 269 MB so, issue 20); None when the text is laid out otherwise or
    anything in it is refused, to be read whole (which tells every problem)."""
    start = text.find(_RUNS)
    if start < 0 or text.count('\n  "runs": ') != 1:
        return None
    body = start + len(_RUNS)
    end = text.find(_RUNS_END, body)
    if end < 0:
        return None
    runs: dict[str, RunRecord] = {}
    names: list[str] = []
    records: list[str] = []
    lines = 0
    last = ","
    try:
        for match in _RUN_LINE.finditer(text, body, end):
            if last != ",":  # only the last line has no comma
                return None
            name, record, last = match.groups()
            names.append(name)
            records.append(record)
            lines += 1
            if len(names) == _BATCH:
                runs.update(_validated(names, records))
        runs.update(_validated(names, records))
        if last or lines != text.count("\n", body, end) + 1:
            return None  # a line of another shape, or a comma after the last
        rest = text[:start] + '\n  "runs": {}' + text[end + len(_RUNS_END) :]
        lock = Lockfile.model_validate_json(rest, strict=True)
    except ValidationError:
        return None
    return lock.model_copy(update={"runs": runs})


_BATCH = 1000  # records validated in one call: few calls, a small tree of values each
_RECORDS = TypeAdapter(list[RunRecord])


def _validated(names: list[str], records: list[str]) -> Iterator[tuple[str, RunRecord]]:
    """The records, validated as one JSON array; ``names`` and ``records`` emptied."""
    found = _RECORDS.validate_json("[" + ",".join(records) + "]", strict=True)
    for name, record in zip(names, found, strict=True):
        # Keyed by the record's own name where it is the same: one string, not two.
        yield (record.name if record.name == name else name), record
    names.clear()
    records.clear()


def write_lockfile(path: Path, lock: Lockfile) -> Lockfile:
    """Write ``lock`` with its serial incremented; returns what was written."""
    written = lock.model_copy(
        update={
            "serial": lock.serial + 1,
            "lineage": lock.lineage or str(uuid.uuid4()),
            "reconciler_version": __version__,
        }
    )
    return store_lockfile(path, written)


def store_lockfile(path: Path, lock: Lockfile) -> Lockfile:
    """Write ``lock`` as it is (serial and lineage kept); returns it."""
    write_atomic(path, lockfile_text(lock), leftovers=StateFiles(path).temp_pattern)
    return lock


_ENTRIES = ("providers", "runs", "schedules")


def lockfile_text(lock: Lockfile) -> str:
    """JSON, the top-level fields sorted, a line each; in ``providers``, ``runs`` and
    ``schedules``, each entry (sorted by name) on a line of its own, every field in the
    model's order: an apply's git diff is a line per record it touched. The entries are
    written by pydantic's own encoder (10,000 records: 0.05 s; an indented ``json.dumps``
    took 0.34 s)."""
    top = lock.model_dump(mode="json", exclude=set(_ENTRIES))
    fields = {key: _json(value) for key, value in top.items()}
    for key in _ENTRIES:
        entries: dict[str, BaseModel] = getattr(lock, key)
        lines = [f"    {_json(name)}: {e.model_dump_json()}" for name, e in sorted(entries.items())]
        fields[key] = "{\n" + ",\n".join(lines) + "\n  }" if lines else "{}"
    return "{\n" + ",\n".join(f"  {_json(k)}: {v}" for k, v in sorted(fields.items())) + "\n}\n"


_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(", ", ": ")).encode
