"""Counts and symbols shared by the renderers."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from reconciler.engine.plan import Action, ActionKind, Plan

SYMBOL = {
    ActionKind.START: "+",
    ActionKind.RETRY: "+",
    ActionKind.REPLACE: "-/+",
    ActionKind.STOP: "-",
    ActionKind.ADOPT: "<=",
    ActionKind.FORGET: "x",
    ActionKind.ERROR: "!",
}

ORDER = [
    ActionKind.START,
    ActionKind.REPLACE,
    ActionKind.STOP,
    ActionKind.RETRY,
    ActionKind.ADOPT,
    ActionKind.FORGET,
]


def counts(plan: Plan) -> Counter[ActionKind]:
    return Counter(a.kind for a in plan.actions)


def summary_line(plan: Plan) -> str:
    counted = counts(plan)
    if not plan.changes:
        return f"No changes. {len(plan.actions)} spec(s) and records checked."
    parts = [f"{counted[k]} to {k.value}" for k in ORDER if counted[k]]
    return "Plan: " + ", ".join(parts) + "."


def refresh_cost(plan: Plan) -> str:
    if not plan.refresh_calls:
        return "refresh: no provider called"
    calls = ", ".join(f"{name} {n} call{'s' * (n != 1)}" for name, n in plan.refresh_calls.items())
    return f"refresh: {calls}"


def value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def change_lines(action: Action) -> list[str]:
    return [f"{c.path}: {value(c.old)} -> {value(c.new)}" for c in action.changes]
