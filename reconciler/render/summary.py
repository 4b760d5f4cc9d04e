"""Counts and symbols shared by the renderers."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from reconciler.engine.actions import Action, ActionKind, Plan
from reconciler.engine.apply import ApplyResult
from reconciler.engine.config_review import ConfigChange
from reconciler.engine.schedules import local_time

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


def change_summary(plan: Plan) -> str:
    """``1 to start, 2 to stop``, or ``no changes``; and how many specs went unrefreshed."""
    counted = counts(plan)
    parts = [f"{counted[k]} to {k.value}" for k in ORDER if counted[k]] or ["no changes"]
    if plan.missed_occurrences:
        parts.append(f"{plan.missed_occurrences} occurrence(s) missed")
    if plan.errors:
        parts.append(f"{len(plan.errors)} not refreshed")
    if plan.config_review:
        parts.append(f"{len(plan.config_review)} configuration change(s) to review")
    return ", ".join(parts)


def summary_line(plan: Plan) -> str:
    unrefreshed = f" {len(plan.errors)} spec(s) not refreshed." if plan.errors else ""
    if plan.missed_occurrences:
        unrefreshed += f" {plan.missed_occurrences} scheduled occurrence(s) missed."
    if plan.config_review:
        unrefreshed += f" {len(plan.config_review)} configuration change(s) to review."
    if not plan.changes:
        checked = len(plan.actions) - len(plan.errors)
        none = "No run changes" if plan.config_review else "No changes"
        return f"{none}. {checked} spec(s) and records checked.{unrefreshed}"
    counted = counts(plan)
    parts = [f"{counted[k]} to {k.value}" for k in ORDER if counted[k]]
    return "Plan: " + ", ".join(parts) + "." + unrefreshed


def refresh_cost(plan: Plan) -> str:
    if not plan.refresh_calls:
        return "refresh: no provider called"
    calls = ", ".join(f"{name} {n} call{'s' * (n != 1)}" for name, n in plan.refresh_calls.items())
    return f"refresh: {calls}"


def next_occurrences(plan: Plan) -> list[tuple[str, str]]:
    """Per scheduled spec: ``(name, "next: 2026-12-03 02:00 CET")``, or that it is suspended."""
    found = []
    for action in plan.actions:
        note = action.schedule
        if note is None or action.kind is ActionKind.MISSED:
            continue
        when = f"next: {local_time(note.next_at, note.timezone)}" if note.next_at else "no next"
        found.append((action.name, when))
    return found


def value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def change_lines(action: Action) -> list[str]:
    return [f"{c.path}: {value(c.old)} -> {value(c.new)}" for c in action.changes]


def unrefreshed(plan: Plan) -> list[tuple[str, str, str]]:
    """Per instance not refreshed: ``(instance, "3 spec(s) (a, b, c)", reason)`` - one line
    per failed provider, not one per spec."""
    names: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    for action in plan.errors:
        names.setdefault(action.instance, []).append(action.name)
        reasons[action.instance] = action.reason
    return [
        (instance, f"{len(shown)} spec(s) ({name_list(shown)})", reasons[instance])
        for instance, shown in sorted(names.items())
    ]


def name_list(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def config_change_title(change: ConfigChange) -> str:
    """``instance etl changed (not refreshed until merged)``, or the repository settings."""
    subject = f"instance {change.instance}" if change.instance else "repository settings"
    held = " (not refreshed until merged)" if change.withheld else ""
    return f"{subject} {change.what}{held}"


def config_change_lines(change: ConfigChange) -> list[str]:
    return [f"{c.path}: {value(c.old)} -> {value(c.new)}" for c in change.changes]


DONE_WORDS = {
    ActionKind.START: "started",
    ActionKind.REPLACE: "replaced",
    ActionKind.STOP: "stopped",
    ActionKind.RETRY: "retried",
    ActionKind.ADOPT: "adopted",
    ActionKind.FORGET: "forgotten",
}


def apply_tally(plan: Plan, result: ApplyResult) -> str:
    """``Apply complete: 3 started, 1 stopped`` or ``Apply incomplete: 2 started, 1 failed,
    75 not refreshed``: what every apply ends with, a partial one included."""
    done = Counter(a.kind for a in result.done if a.kind.is_change)
    parts = [f"{done[kind]} {DONE_WORDS[kind]}" for kind in ORDER if done[kind]]
    if result.failures:
        parts.append(f"{len(result.failures)} failed")
    if result.not_begun:
        parts.append(f"{len(result.not_begun)} not begun")
    if plan.errors:
        parts.append(f"{len(plan.errors)} not refreshed")
    whole = not (result.failures or result.not_begun or plan.errors)
    return f"Apply {'complete' if whole else 'incomplete'}: {', '.join(parts) or 'nothing done'}"
