"""A plan as a pull-request comment. Values (reasons, which carry providers' messages and run
ids; changed job fields; names) are shown through ``inert``: as code spans or escaped prose,
they add no HTML, link, mention, table cell or line, and cannot close the ``<details>``."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.engine.actions import Action, ActionKind, Plan
from reconciler.inert import markdown_code, markdown_text
from reconciler.render.summary import (
    change_lines,
    change_summary,
    config_change_lines,
    config_change_title,
    listed,
    mermaid_graph,
    next_occurrences,
    refresh_cost,
    unrefreshed,
)


def _code_cell(text: str) -> str:
    # In a table, GFM splits cells at | before parsing code spans, and \| keeps one inside.
    return markdown_code(text).replace("|", "\\|")


# GitHub refuses a comment over 65,536 characters; the rest is room for a comment tool's header.
COMMENT_LIMIT = 64_000
NOTES_ROOM = 1_500  # for the lines counting what was left out


@dataclass
class _Section:
    """Lines of the comment; when it is too long, ``items`` are the ones that can be left out
    (counted in a last line), from the sections least needed to review a plan first."""

    head: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    shrink_order: int = 0  # 0: never shortened
    left_out: int = 0

    def lines(self, more: str) -> list[str]:
        note = [f"_… and {self.left_out} more not shown{more}_", ""] if self.left_out else []
        return [*self.head, *self.items, *self.tail, *note]


def render_plan(plan: Plan, *, limit: int = COMMENT_LIMIT, full_plan: str | None = None) -> str:
    """The plan as a pull-request comment of at most ``limit`` characters: what does not fit
    is left out, least needed first, and counted, pointing at ``full_plan`` (a link)."""
    sections = _sections(plan)
    more = f": the full plan is at {full_plan}" if full_plan else ": `reconciler plan` shows all"
    text = _joined(sections, more)
    excess = len(text) - limit + NOTES_ROOM
    if excess <= NOTES_ROOM:
        return text
    for section in sorted((s for s in sections if s.shrink_order), key=lambda s: s.shrink_order):
        while excess > 0 and section.items:
            excess -= len(section.items.pop()) + 1
            section.left_out += 1
    return _joined(sections, more)


def _item(action: Action) -> str:
    return f"- {markdown_code(action.name)}: {action.kind.value}: {markdown_text(action.reason)}"


def _joined(sections: list[_Section], more: str) -> str:
    return "\n".join(line for section in sections for line in section.lines(more)).rstrip("\n")


def _sections(plan: Plan) -> list[_Section]:
    sections = [_Section(head=[f"### reconciler plan: {change_summary(plan)}", ""])]
    changes = plan.changes
    if changes:
        rows = []
        for a in changes:
            fields = "<br>".join(_code_cell(c) for c in change_lines(a))
            rows.append(
                f"| **{a.kind.value}** | {_code_cell(a.name)} | {markdown_text(a.instance)} "
                f"| {markdown_text(a.reason)} | {fields} |"
            )
        head = ["| action | spec | instance | why | changed fields |", "|---|---|---|---|---|"]
        sections.append(_Section(head, rows, [""], shrink_order=5))
    if plan.config_review:
        lines = ["**Configuration changes to review** (against the trusted revision):", ""]
        for change in plan.config_review:
            lines.append(f"- {markdown_text(config_change_title(change))}")
            lines += [f"  - {markdown_code(line)}" for line in config_change_lines(change)]
        sections.append(_Section([*lines, ""]))
    if plan.errors:
        head = ["**Not refreshed** (these specs were left as they are):", ""]
        rows = [
            f"- {markdown_text(instance)}: {markdown_text(specs)}: {markdown_text(reason)}"
            for instance, specs, reason in unrefreshed(plan)
        ]
        sections.append(_Section(head, rows, [""]))
    held = [a for a in plan.actions if listed(a, plan) and not a.kind.is_change]
    if held:
        head = ["**Failed, missed, blocked and waiting on other specs:**", ""]
        rows = [
            f"- {markdown_code(a.name)}: {a.kind.value}: {markdown_text(a.reason)}" for a in held
        ]
        sections.append(_Section(head, rows, [""], shrink_order=4))
    if plan.after:
        head = ["**Runs after** (an arrow: the first runs, then the second):", ""]
        graph = "\n".join(mermaid_graph(plan))  # all or nothing: a part would mislead
        sections.append(_Section(head, [graph], [""], shrink_order=2))
    upcoming = next_occurrences(plan)
    if upcoming:
        head = ["**Schedules**:", ""]
        rows = [f"- {markdown_code(name)}: {markdown_text(when)}" for name, when in upcoming]
        sections.append(_Section(head, rows, [""], shrink_order=3))
    sections.append(_Section([f"_{markdown_text(refresh_cost(plan))}_"]))
    quiet = [a for a in plan.actions if not listed(a, plan) and a.kind is not ActionKind.ERROR]
    if quiet:
        head = ["", "<details><summary>Unchanged specs and records</summary>", ""]
        rows = [
            f"- {markdown_code(a.name)}: {a.kind.value}: {markdown_text(a.reason)}" for a in quiet
        ]
        sections.append(_Section(head, rows, ["", "</details>"], shrink_order=1))
    return sections
