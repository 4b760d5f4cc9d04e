"""Plans for tests that render or apply one: ``plan_actions``' decisions in a ``Plan``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reconciler.engine.actions import Plan
from reconciler.engine.plan import Planned
from reconciler.state.model import Lockfile


def plan_of(planned: Planned, lock: Lockfile, created_at: datetime, **fields: Any) -> Plan:
    """The plan of ``planned``, made from ``lock``; what a real plan also carries (release,
    digests, the refresh's clocks and calls) stands in unless ``fields`` gives it."""
    made: dict[str, Any] = {
        "reconciler_version": "test",
        "created_at": created_at,
        "lineage": lock.lineage,
        "serial": lock.serial,
        "lockfile_digest": "l",
        "specs_digest": "d",
        "prune": False,
        "records": planned.records,
        "actions": tuple(planned.actions),
        "observed_at": {},
        "refresh_calls": {},
    }
    return Plan(**{**made, **fields})
