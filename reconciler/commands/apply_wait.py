"""`apply --wait`: apply again, every interval, until what the first apply set going has
settled (succeeded, failed, blocked, or waiting on time), printing progress as it goes."""

from __future__ import annotations

import time
from collections import Counter

import click

from reconciler.app.runtime import Runtime
from reconciler.app.session import apply_session, converge
from reconciler.app.waiting import moving, set_going, settled_badly
from reconciler.app.workspace import Environment, Workspace
from reconciler.commands.common import echo_applied
from reconciler.engine.actions import Plan
from reconciler.errors import ApplyError
from reconciler.render.style import Style
from reconciler.spec.durations import format_duration
from reconciler.state.lock import command_line

PROGRESS_EVERY = 30.0  # seconds between progress lines when nothing changed


def wait_until_settled(
    ws: Workspace,
    env: Environment,
    runtime: Runtime,
    first: Plan,
    *,
    timeout: int,
    interval: float,
    lock_timeout: float,
    style: Style,
) -> None:
    """Raises ApplyError naming what failed or is blocked, or what was still moving when
    ``timeout`` seconds had passed."""
    names = set_going(first)
    began = time.monotonic()
    said, said_at = "", 0.0
    plan = first
    while pending := moving(plan, names):
        elapsed = time.monotonic() - began
        if elapsed >= timeout:
            raise ApplyError(
                [f"gave up waiting after {format_duration(timeout)}: {_tally(pending)}"]
            )
        news = _tally(pending)
        if news != said or elapsed - said_at >= PROGRESS_EVERY:  # a change, or a heartbeat
            click.echo(f"Waiting: {news} [{format_duration(int(elapsed))} elapsed]")
            said, said_at = news, elapsed
        time.sleep(interval)
        with apply_session(
            ws, env, command_line(), lock_timeout=lock_timeout, runtime=runtime
        ) as session:
            targets = sorted(names & {d.name for d in session.desired})
            if not targets:  # their specs were removed meanwhile: nothing left to wait for
                return
            plan = session.plan(targets=targets)
            outcome = converge(session, plan)
        if outcome.result is not None:
            echo_applied(outcome.result, session.lock.runs, style)
        for failure in outcome.failures:
            click.echo(f"  ! {failure}")
    badly = settled_badly(plan, names)
    if badly:
        raise ApplyError(badly)
    click.echo(
        f"Settled: {len(names)} spec(s) after {format_duration(int(time.monotonic() - began))}."
    )


def _tally(pending: dict[str, str]) -> str:
    """``2 running (a, b), 1 waiting (c)``."""
    kinds = Counter(pending.values())
    return ", ".join(
        f"{count} {kind} ({', '.join(sorted(n for n, k in pending.items() if k == kind))})"
        for kind, count in sorted(kinds.items())
    )
