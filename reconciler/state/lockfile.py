"""``reconciler.lock``: the file store's state document, committed beside the specs.

Written atomically (``state.files.write_atomic``); read strictly (``state.document``), so that
a hand edit gets a clear error with its key path.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.state.document import dump_json_entries, parse_json_document
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
    write_atomic(
        path, dump_json_entries(_written_form(lock)), leftovers=StateFiles(path).temp_pattern
    )
    return lock


_ENTRIES = {"providers", "runs", "schedules"}


def _written_form(lock: Lockfile) -> dict[str, Any]:
    """Every top-level field; in the entries (records, schedules), a field at its default
    is left out, as reading fills it in: a third less to write, read and diff."""
    data = lock.model_dump(mode="json", exclude_defaults=True, include=_ENTRIES)
    return {
        **lock.model_dump(mode="json", exclude=_ENTRIES),
        **{k: data.get(k, {}) for k in _ENTRIES},
    }
