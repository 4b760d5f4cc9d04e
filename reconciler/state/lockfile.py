"""``reconciler.lock``: the file store's state document, committed beside the specs.

Written atomically (``state.files.write_atomic``); read strictly (``state.document``), so that
a hand edit gets a clear error with its key path.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from pydantic import BaseModel

from reconciler import __version__
from reconciler.state.document import parse_json_document
from reconciler.state.files import StateFiles, read_state_text, write_atomic
from reconciler.state.model import Lockfile, new_lockfile


def read_lockfile(path: Path, display: str) -> Lockfile:
    """The lockfile at ``path``; a new, empty one when there is none yet."""
    text = read_state_text(path)
    if text is None:
        return new_lockfile()
    return parse_json_document(text, Lockfile, display, version_field="version")


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
