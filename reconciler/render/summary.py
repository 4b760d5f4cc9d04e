"""Counts and symbols shared by the renderers."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from reconciler.engine.actions import Action, ActionKind, Plan
from reconciler.engine.apply import ApplyResult
from reconciler.engine.config_review import ConfigChange
from reconciler.engine.schedules import local_time
from reconciler.errors import name_list

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


def listed(action: Action, plan: Plan) -> bool:
    """Whether a plan lists the action on its own line: changes, what was missed, is blocked
    or failed for good (with the provider's reason: with nothing left to do, its line is the
    only place a plan says why), and what waits on another spec; the rest is counted."""
    if action.kind.is_change or action.kind in (
        ActionKind.MISSED,
        ActionKind.BLOCKED,
        ActionKind.FAILED,
    ):
        return True
    return action.kind is ActionKind.WAIT and action.name in plan.after


def dependency_tree(plan: Plan) -> list[str]:
    """What runs after what, as a compact tree from the specs that run after none: each spec
    with its plan action's kind; a spec reached again is shown once, then ``(above)``."""
    if not plan.after:
        return []
    kinds = {a.name: a.kind.value for a in plan.actions if a.kind is not ActionKind.MISSED}
    below: dict[str, list[str]] = {}
    for name, upstream in sorted(plan.after.items()):
        for other in upstream:
            below.setdefault(other, []).append(name)
    roots = sorted(set(below) - set(plan.after))
    lines: list[str] = []
    shown: set[str] = set()

    def walk(name: str, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        again = name in shown
        state = " (see above)" if again else f" ({kinds[name]})" if name in kinds else ""
        lines.append(f"{prefix}{branch}{name}{state}")
        shown.add(name)
        if again:
            return
        children = below.get(name, [])
        inner = prefix if top else prefix + ("   " if last else "│  ")
        for index, child in enumerate(children):
            walk(child, inner, index == len(children) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return lines


def mermaid_graph(plan: Plan) -> list[str]:
    """The same graph for a markdown comment: GitHub and GitLab draw it. Spec names are
    lowercase letters, digits and '-', so a label needs no escaping; ids are ``n0``, ``n1``."""
    names = sorted({n for name, up in plan.after.items() for n in (name, *up)})
    ids = {name: f"n{index}" for index, name in enumerate(names)}
    lines = ["```mermaid", "graph LR"]
    lines += [f'  {ids[name]}["{name}"]' for name in names]
    lines += [
        f"  {ids[up]} --> {ids[name]}"
        for name, upstream in sorted(plan.after.items())
        for up in upstream
    ]
    return [*lines, "```"]


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
