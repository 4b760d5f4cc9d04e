"""`apply --wait`: which specs an apply set going, and whether they have settled. Pure."""

from __future__ import annotations

from collections.abc import Collection

from reconciler.engine.actions import ActionKind, Plan

# Not settled: something will still happen to the spec without a new commit or time passing.
MOVING = frozenset(
    {
        ActionKind.START,
        ActionKind.STOP,
        ActionKind.REPLACE,
        ActionKind.RETRY,
        ActionKind.ADOPT,
        ActionKind.IN_PROGRESS,
        ActionKind.ERROR,
    }
)
# Settled badly: the wait ends with these named as failures.
BAD = frozenset({ActionKind.FAILED, ActionKind.BLOCKED})


def set_going(plan: Plan) -> set[str]:
    """The specs the plan changes or finds moving, and every spec that runs after them,
    directly or not: what `apply --wait` waits for."""
    names = {a.name for a in plan.actions if a.kind in MOVING}
    below: dict[str, set[str]] = {}
    for name, upstream in plan.after.items():
        for other in upstream:
            below.setdefault(other, set()).add(name)
    stack = list(names)
    while stack:
        for child in below.get(stack.pop(), ()):
            if child not in names:
                names.add(child)
                stack.append(child)
    return names


def moving(plan: Plan, names: Collection[str]) -> dict[str, str]:
    """Of ``names``, those not settled once ``plan`` was applied: name -> ``running``,
    ``stopping``, ``waiting`` (on another spec) or ``not refreshed``. Waiting on time (a
    window, a next occurrence) is settled: nothing would happen before then. So a spec that
    waits is waiting on another only while one it runs after (directly or not) is moving:
    its own wait may be for its window or occurrence, once every spec above it is settled."""
    found: dict[str, str] = {}
    waits: set[str] = set()
    for action in plan.actions:
        if action.kind is ActionKind.MISSED:
            continue
        if action.kind is ActionKind.STOP:
            found[action.name] = "stopping"
        elif action.kind is ActionKind.ERROR:
            found[action.name] = "not refreshed"
        elif action.kind in MOVING:
            found[action.name] = "running"
        elif action.kind is ActionKind.WAIT and action.name in plan.after:
            waits.add(action.name)
    changed = True
    while changed:  # down the graph, however it is ordered
        changed = False
        for name in sorted(waits - found.keys()):
            if any(upstream in found for upstream in plan.after[name]):
                found[name] = "waiting"
                changed = True
    return {name: why for name, why in found.items() if name in names}


def settled_badly(plan: Plan, names: Collection[str]) -> list[str]:
    """One line per spec of ``names`` that failed or is blocked."""
    return [
        f"{a.kind.value} {a.name}: {a.reason}"
        for a in plan.actions
        if a.name in names and a.kind in BAD
    ]
