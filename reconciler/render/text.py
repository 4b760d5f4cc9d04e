"""Plans and state for a terminal. Every line or cell holding a value from a provider, a spec
or a job passes through ``inert.terminal``: a value can add no line and send no escape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.app.show import ShowRow
from reconciler.engine.actions import Action, ActionKind, Plan
from reconciler.engine.schedules import local_time
from reconciler.inert import terminal
from reconciler.render.style import PLAIN, Style
from reconciler.render.summary import (
    SYMBOL,
    change_lines,
    config_change_lines,
    config_change_title,
    dependency_tree,
    listed,
    next_occurrences,
    refresh_cost,
    summary_line,
    unrefreshed,
)
from reconciler.state.model import OccurrenceEntry, RunRecord


def render_plan(plan: Plan, *, verbose: bool = False, style: Style = PLAIN) -> str:
    lines = [f"reconciler plan ({refresh_cost(plan)})", ""]
    width = max((len(a.name) for a in plan.actions), default=4)
    for action in plan.actions:
        if not verbose and not listed(action, plan):
            continue
        lines.append(
            f"  {_head(action.kind, style)} {action.name:<{width}}  "
            f"{action.instance}: {terminal(action.reason)}"
        )
        lines.extend(f"{'':>18}{terminal(line)}" for line in change_lines(action))
    quiet = [a for a in plan.actions if not listed(a, plan) and a.kind is not ActionKind.ERROR]
    if quiet and not verbose:
        kinds: dict[str, int] = {}
        for a in quiet:
            kinds[a.kind.value] = kinds.get(a.kind.value, 0) + 1
        lines.append("  unchanged: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    if not verbose:
        lines += [
            f"    {style.kind(ActionKind.ERROR, '! not refreshed')} {instance}: "
            f"{terminal(specs)}: {terminal(reason)}"
            for instance, specs, reason in unrefreshed(plan)
        ]
    tree = dependency_tree(plan)
    if tree:
        lines += ["", "Runs after:"]
        lines += [f"    {terminal(line)}" for line in tree]
    upcoming = next_occurrences(plan)
    if upcoming:
        lines += ["", "Schedules:"]
        lines += [f"    {terminal(name):<{width}}  {when}" for name, when in upcoming]
    if plan.config_review:
        lines += ["", "Configuration changes to review (trusted revision -> this one):"]
        for change in plan.config_review:
            lines.append(f"    ~ {terminal(config_change_title(change))}")
            lines.extend(f"{'':>18}{terminal(line)}" for line in config_change_lines(change))
    if lines[-1] != "":
        lines.append("")
    lines.append(style.bold(summary_line(plan)))
    return "\n".join(lines)


def _head(kind: ActionKind, style: Style) -> str:
    """``  + start      ``: the symbol and the kind, coloured, padded outside the colour."""
    head = f"{SYMBOL.get(kind, '='):>3} {kind.value}"
    return style.kind(kind, head) + " " * (11 - len(kind.value))


def render_applied(
    done: Sequence[Action], records: Mapping[str, RunRecord], style: Style = PLAIN
) -> str:
    """What apply did, a line per change: the run each action started, adopted or stopped."""
    changes = [a for a in done if a.kind.is_change]
    width = max((len(a.name) for a in changes), default=4)
    return "\n".join(
        f"  {_head(a.kind, style)} {a.name:<{width}}  "
        f"{a.instance}: {terminal(_outcome(a, records.get(a.name)))}"
        for a in changes
    )


def _outcome(action: Action, record: RunRecord | None) -> str:
    if record is None:
        return "record dropped"
    now = f"run {record.run_id} ({record.status.value})"
    match action.kind:
        case ActionKind.ADOPT:
            return f"adopted {now}"
        case ActionKind.STOP:
            return f"stop requested: {now}"
        case ActionKind.REPLACE if action.stop and record.run_id == action.stop.run_id:
            return f"stop requested: {now}; the new revision starts on a later apply"
        case ActionKind.REPLACE:
            stopped = action.stop.run_id if action.stop else "-"
            return f"stop requested: run {stopped}; started {now}"
        case _:
            return f"started {now}"


def render_show(rows: Sequence[ShowRow]) -> str:
    if not rows:
        return "The lockfile records no runs."
    header = ["NAME", "INSTANCE", "RUN", "ATTEMPT", "RECORDED", "LIVE", "API STATUS", "STARTED"]
    with_details = any(_details(r) for r in rows)
    if with_details:
        header.append("DETAILS")
    table = [header]
    for r in rows:
        started = r.started_at.strftime("%Y-%m-%d %H:%M:%SZ") if r.started_at else "-"
        cells = [r.name, r.instance, r.run_id or "-", str(r.attempt), r.recorded, r.live]
        cells += [r.api_status or "-", started]
        if with_details:
            cells.append(_details(r) or "-")
        table.append([terminal(cell) for cell in cells])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def _details(row: ShowRow) -> str:
    """The table's DETAILS: why the run failed, how far it has got, the provider's account
    (unless the failure already says it: a Vonage failure is its summary)."""
    details = row.details if row.details and row.details not in (row.failure or "") else None
    return "; ".join(part for part in (row.failure, row.progress, details) if part)


def render_run(row: ShowRow) -> str:
    """One recorded run in full (``reconciler show NAME``)."""
    started = row.started_at.isoformat() if row.started_at else "-"
    fields: list[tuple[str, str]] = [("spec", row.name), ("run", "- (no occurrence started yet)")]
    if row.attempt:
        fields = _run_fields(row, started)
    if row.schedule is not None:
        zone = row.schedule.timezone
        if row.occurrence is not None:
            fields.append(("occurrence", local_time(row.occurrence, zone)))
        earlier = [_past(e, zone) for e in row.schedule.history]
        fields += [("earlier" if i == 0 else "", line) for i, line in enumerate(earlier)]
    width = max(len(k) for k, _ in fields)
    return "\n".join(f"{key:<{width}}  {terminal(value)}" for key, value in fields)


def _run_fields(row: ShowRow, started: str) -> list[tuple[str, str]]:
    fields = [
        ("spec", row.name),
        ("spec file", row.spec_file or "-"),
        ("started by commit", row.commit or "- (its spec file was not committed in git)"),
        ("instance", row.instance),
        ("run", row.run_id or "- (start not confirmed)"),
        ("run key", row.run_key),
        ("revision", row.revision),
        ("attempt", str(row.attempt)),
        ("status", f"{row.live} (API: {row.api_status or '-'}; recorded: {row.recorded})"),
        ("started", started),
    ]
    if row.stop_reason:
        fields.append(("stopped because", row.stop_reason))
    if row.failure:
        fields.append(("failure", row.failure))
    if row.progress:
        fields.append(("progress", row.progress))
    if row.details:
        fields.append(("details", row.details))
    return fields


def _past(entry: OccurrenceEntry, zone: str) -> str:
    """``2026-12-03 02:00 CET  run 41 succeeded`` or ``... missed: not started within 5m``."""
    when = local_time(entry.at, zone)
    if entry.missed is not None:
        return f"{when}  missed: {entry.missed}"
    status = entry.status.value if entry.status else "unknown"
    return f"{when}  run {entry.run_id or '-'} {status}"
