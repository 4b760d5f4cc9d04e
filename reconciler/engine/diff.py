"""What changed in a spec since its recorded run started: field changes for the plan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.engine.actions import FieldChange
from reconciler.engine.desired import DesiredRun
from reconciler.state.model import RunRecord


def diff_record(record: RunRecord, spec: DesiredRun) -> tuple[FieldChange, ...]:
    """The fields of ``spec`` that differ from what started the recorded run."""
    return tuple(_diff(_revision_fields(record), _revision_fields(spec), ""))


def _revision_fields(source: RunRecord | DesiredRun) -> dict[str, Any]:
    window = source.window.model_dump(mode="json") if source.window else None
    return {"instance": source.instance, "job": source.job, "rerun": source.rerun, "window": window}


def _diff(old: Any, new: Any, path: str) -> Iterator[FieldChange]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            child = f"{path}.{key}" if path else str(key)
            yield from _diff(old.get(key), new.get(key), child)
    elif old != new:
        yield FieldChange(path=path, old=old, new=new)
