"""A plan as a pull-request comment. Values (reasons, which carry providers' messages and run
ids; changed job fields; names) are shown through ``inert``: as code spans or escaped prose,
they add no HTML, link, mention, table cell or line, and cannot close the ``<details>``."""

from __future__ import annotations

from reconciler.engine.actions import ActionKind, Plan
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


def render_plan(plan: Plan) -> str:
    lines = [f"### reconciler plan: {change_summary(plan)}", ""]
    changes = plan.changes
    if changes:
        lines += ["| action | spec | instance | why | changed fields |", "|---|---|---|---|---|"]
        for a in changes:
            fields = "<br>".join(_code_cell(c) for c in change_lines(a))
            lines.append(
                f"| **{a.kind.value}** | {_code_cell(a.name)} | {markdown_text(a.instance)} "
                f"| {markdown_text(a.reason)} | {fields} |"
            )
        lines.append("")
    if plan.config_review:
        lines += ["**Configuration changes to review** (against the trusted revision):", ""]
        for change in plan.config_review:
            lines.append(f"- {markdown_text(config_change_title(change))}")
            lines += [f"  - {markdown_code(line)}" for line in config_change_lines(change)]
        lines.append("")
    if plan.errors:
        lines += ["**Not refreshed** (these specs were left as they are):", ""]
        lines += [
            f"- {markdown_text(instance)}: {markdown_text(specs)}: {markdown_text(reason)}"
            for instance, specs, reason in unrefreshed(plan)
        ]
        lines.append("")
    held = [a for a in plan.actions if listed(a, plan) and not a.kind.is_change]
    if held:
        lines += ["**Missed, blocked and waiting on other specs:**", ""]
        lines += [
            f"- {markdown_code(a.name)}: {a.kind.value}: {markdown_text(a.reason)}" for a in held
        ]
        lines.append("")
    if plan.after:
        lines += ["**Runs after** (an arrow: the first runs, then the second):", ""]
        lines += [*mermaid_graph(plan), ""]
    upcoming = next_occurrences(plan)
    if upcoming:
        lines += ["**Schedules**:", ""]
        lines += [f"- {markdown_code(name)}: {markdown_text(when)}" for name, when in upcoming]
        lines.append("")
    lines.append(f"_{markdown_text(refresh_cost(plan))}_")
    quiet = [a for a in plan.actions if not listed(a, plan) and a.kind is not ActionKind.ERROR]
    if quiet:
        lines += ["", "<details><summary>Unchanged specs and records</summary>", ""]
        lines += [
            f"- {markdown_code(a.name)}: {a.kind.value}: {markdown_text(a.reason)}" for a in quiet
        ]
        lines += ["", "</details>"]
    return "\n".join(lines)
