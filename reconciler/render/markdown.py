"""A plan as a pull-request comment."""

from __future__ import annotations

from reconciler.engine.plan import Plan
from reconciler.render.summary import (
    change_lines,
    change_summary,
    config_change_lines,
    config_change_title,
    refresh_cost,
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_plan(plan: Plan) -> str:
    lines = [f"### reconciler plan: {change_summary(plan)}", ""]
    changes = plan.changes
    if changes:
        lines += ["| action | spec | instance | why | changed fields |", "|---|---|---|---|---|"]
        for a in changes:
            fields = "<br>".join(f"`{_cell(c)}`" for c in change_lines(a)) or ""
            lines.append(
                f"| **{a.kind.value}** | `{a.name}` | {a.instance} | {_cell(a.reason)} | {fields} |"
            )
        lines.append("")
    if plan.config_review:
        lines += ["**Configuration changes to review** (against the trusted revision):", ""]
        for change in plan.config_review:
            lines.append(f"- {_cell(config_change_title(change))}")
            lines += [f"  - `{_cell(line)}`" for line in config_change_lines(change)]
        lines.append("")
    if plan.errors:
        lines += ["**Not refreshed** (these specs were left as they are):", ""]
        lines += [f"- `{a.name}` ({a.instance}): {_cell(a.reason)}" for a in plan.errors]
        lines.append("")
    lines.append(f"_{refresh_cost(plan)}_")
    quiet = [a for a in plan.actions if not a.kind.is_change and a not in plan.errors]
    if quiet:
        lines += ["", "<details><summary>Unchanged specs and records</summary>", ""]
        lines += [f"- `{a.name}`: {a.kind.value}: {_cell(a.reason)}" for a in quiet]
        lines += ["", "</details>"]
    return "\n".join(lines)
