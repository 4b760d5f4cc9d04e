from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import click

from reconciler.app.runtime import Runtime
from reconciler.app.saved_plan import read_plan
from reconciler.app.session import apply_session, converge
from reconciler.app.snapshot import check_exportable, export_snapshot
from reconciler.app.workspace import Environment, Workspace
from reconciler.commands.apply_push import apply_and_push
from reconciler.commands.apply_wait import wait_until_settled
from reconciler.commands.common import (
    ApplyProgress,
    RefreshProgress,
    confirmed,
    echo_applied,
    lock_timeout_option,
)
from reconciler.commands.options import Options, pass_options
from reconciler.engine.actions import Plan
from reconciler.errors import ApplyError, ReconcilerError, UsageError
from reconciler.gitops import commit_lockfile, commit_message, require_upstream, sync
from reconciler.gitops import push as push_head
from reconciler.inert import terminal
from reconciler.render import text
from reconciler.render.summary import apply_tally
from reconciler.spec.durations import parse_duration
from reconciler.state.lock import command_line


@click.command()
@click.argument(
    "planfile", required=False, type=click.Path(path_type=Path, dir_okay=False, exists=True)
)
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME",
    help="Apply only this spec, or a removed spec's record (repeatable).",
)
@lock_timeout_option(default=0.0)
@click.option(
    "--commit", "commit", is_flag=True, help="Commit the updated lockfile (and only it) to git."
)
@click.option(
    "--push",
    is_flag=True,
    help="Implies --commit. Claim the starts in git (push) before making them, then push the "
    "lockfile; when the remote moved, sync, plan again and retry. For merge jobs: needs an "
    "upstream branch and a clean tree. With the state in PostgreSQL, the database excludes "
    "other appliers: sync, apply, then push a snapshot of the state as the lockfile.",
)
@click.option(
    "--wait",
    "wait",
    is_flag=False,
    flag_value="1h",
    default=None,
    metavar="[=TIMEOUT]",
    help="Then keep applying until what this apply set going has settled (runs ended, specs "
    "that run after them started and ended), at most TIMEOUT (default 1h, e.g. --wait=30m); "
    "fails if one failed or is blocked. Not with --commit or --push.",
)
@click.option(
    "--wait-interval",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="With --wait: how often to look again.",
)
@pass_options
def apply(
    options: Options,
    planfile: Path | None,
    auto_approve: bool,
    targets: tuple[str, ...],
    lock_timeout: float,
    commit: bool,
    push: bool,
    wait: str | None,
    wait_interval: float,
) -> int:
    """Perform the plan's actions and record them in the lockfile.

    With PLANFILE (from `plan -o`), apply exactly that plan, refused if the lockfile or the
    specs changed since, if another release of reconciler made it, if it was edited, or, with
    RECONCILER_PLAN_KEY set, if it was not signed with that key. Without it, plan now
    and ask for confirmation on a terminal. Afterwards, each action is printed with the run
    it started, adopted or stopped.
    """
    _check_options(options, planfile, auto_approve, targets, commit, push)
    timeout = _wait_timeout(wait, commit or push)
    ws = options.workspace()
    if push and not ws.state_in_database:
        return apply_and_push(options, targets, lock_timeout)
    if push:  # the database excludes other appliers: no claim in git, only the snapshot
        require_upstream(ws.root)
        sync(ws.root)
        ws = options.workspace()  # the specs may have moved on the remote
    saved = read_plan(planfile) if planfile else None
    if (commit or push) and ws.state_in_database:
        check_exportable(ws.store, ws.state)  # refused now, not after the apply
    with options.environment(ws) as env, Runtime() as runtime:
        code, plan = _apply(
            options,
            ws,
            env,
            runtime,
            saved,
            planfile,
            auto_approve,
            targets,
            lock_timeout,
            Publish(commit or push, push),
        )
        if timeout is not None and code == 0:
            wait_until_settled(
                ws,
                env,
                runtime,
                plan,
                timeout=timeout,
                interval=wait_interval,
                lock_timeout=lock_timeout,
                style=options.style,
            )
    return code


def _apply(
    options: Options,
    ws: Workspace,
    env: Environment,
    runtime: Runtime,
    saved: Plan | None,
    planfile: Path | None,
    auto_approve: bool,
    targets: tuple[str, ...],
    lock_timeout: float,
    publish: Publish,
) -> tuple[int, Plan]:
    """One apply: plan (or the saved plan), confirm, converge, report; the exit code, and
    the plan."""
    with apply_session(
        ws, env, command_line(), lock_timeout=lock_timeout, runtime=runtime, targets=targets
    ) as session:
        for notice in session.notices:
            click.echo(f"Note: {terminal(notice)}.", err=True)  # names a lock note's holder
        if saved is not None:
            session.check_saved(saved, str(planfile))
            plan = saved
        else:
            plan = session.plan(targets=targets, progress=RefreshProgress())
        click.echo(text.render_plan(plan, style=options.style))
        session.progress = ApplyProgress(sum(a.kind.is_change for a in plan.actions))
        asked = saved is None and not auto_approve
        # Statuses alone are not committed, so a merge job re-run with nothing to do leaves git
        # as it was (`show` gives live statuses). A replayed journal is.
        outcome = converge(
            session,
            plan,
            proceed=lambda _: confirmed(
                "Perform these actions?", skip=not asked, flag="--auto-approve"
            ),
            record_unchanged=not publish.commit,
        )
    if outcome.declined:
        click.echo("Apply cancelled; nothing was done.")
        return 1, plan
    failures, result = outcome.failures, outcome.result
    if result is None:  # nothing to do
        if publish.commit:
            _commit(ws, commit_message(plan, []), publish)
        if failures:
            raise ApplyError(failures)
        return 0, plan
    echo_applied(result, session.lock.runs, options.style)
    if publish.commit:  # what did happen is recorded, and committed, before any failure is reported
        message = commit_message(plan, result.done, session.lock.runs, failures=failures)
        _commit(ws, message, publish)
    click.echo(f"\n{apply_tally(plan, result)}; lockfile serial {session.lock.serial}.")
    if failures:
        raise ApplyError(failures)
    return 0, plan


def _wait_timeout(wait: str | None, commits: bool) -> int | None:
    """``--wait``'s timeout in seconds, or None without it."""
    if wait is None:
        return None
    if commits:
        raise UsageError("--wait cannot be combined with --commit or --push")
    try:
        return parse_duration(wait)
    except ValueError as exc:
        raise UsageError(f"--wait={wait}: {exc}") from None


def _check_options(
    options: Options,
    planfile: Path | None,
    auto_approve: bool,
    targets: tuple[str, ...],
    commit: bool,
    push: bool,
) -> None:
    """Combinations refused before anything is read."""
    if planfile and targets:
        raise UsageError("--target cannot be combined with a saved plan")
    if (commit or push) and options.lockfile is not None:
        raise UsageError("--commit and --push commit the repository's lockfile, not --lockfile's")
    if push and (planfile or not auto_approve):
        raise UsageError("--push plans for itself: use it with --auto-approve, without a plan")
    if planfile is None and not auto_approve and not sys.stdin.isatty():
        raise UsageError(
            "refusing to apply without confirmation: "
            "pass --auto-approve, or a plan file from `plan -o`"
        )


@dataclass(frozen=True)
class Publish:
    commit: bool  # commit the lockfile (with the state in PostgreSQL: a snapshot of it)
    push: bool  # and push it (the file store's --push has its own flow: apply_push)


PUSH_ROUNDS = 5


def _commit(ws: Workspace, message: str, publish: Publish) -> None:
    for _ in range(PUSH_ROUNDS):
        if ws.state_in_database:
            export_snapshot(ws.store, ws.state)
        made = commit_lockfile(ws.root, ws.lockfile, message)
        click.echo(
            f"Committed the lockfile: {made[:12]}." if made else "Lockfile unchanged: no commit."
        )
        if not publish.push:
            return
        if push_head(ws.root):
            click.echo("Pushed.")
            return
        # The remote moved: take it (our commit held only the snapshot), and export again.
        click.echo("The remote moved: syncing and committing the snapshot again.", err=True)
        sync(ws.root)
    raise ReconcilerError(
        "the remote kept moving: the lockfile snapshot could not be pushed; the state itself "
        "is in PostgreSQL (`reconciler state pull` writes it again)"
    )
