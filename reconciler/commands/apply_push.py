"""``apply --push``: apply on a merge, with the lockfile pushed back, racing appliers included.

Starts are claimed in git before they are made: the claim (the planned starts, recorded with no
run id) is committed and pushed, and git's refusal of a non-fast-forward push is the lock
between machines. Only the applier whose claim landed starts runs; one whose claim was refused
syncs to the remote, plans again — where the other's fresh claims make it wait, not start — and
retries. The final lockfile is pushed, merged by run name if the remote moved meanwhile.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import click

from reconciler.app.runtime import Runtime
from reconciler.app.session import ApplySession, apply_session, converge
from reconciler.commands.common import echo_applied
from reconciler.commands.options import Options
from reconciler.engine.actions import Plan
from reconciler.engine.apply import ApplyResult
from reconciler.errors import ApplyError, ReconcilerError, display_path
from reconciler.gitops import (
    commit_lockfile,
    commit_message,
    merged_lockfile,
    push,
    require_upstream,
    sync,
)
from reconciler.render import text
from reconciler.render.summary import apply_tally
from reconciler.state.lock import command_line
from reconciler.state.lockfile import read_lockfile, write_lockfile
from reconciler.state.model import Lockfile

ROUNDS = 5


def apply_and_push(options: Options, targets: Sequence[str], lock_timeout: float) -> int:
    root = options.config.resolve().parent
    require_upstream(root)
    with Runtime() as runtime:  # one login per provider for every round
        for _ in range(ROUNDS):
            sync(root)
            ws = options.workspace()  # the specs may have moved on the remote
            with (
                options.environment(ws) as env,
                apply_session(
                    ws, env, command_line(), lock_timeout=lock_timeout, runtime=runtime
                ) as session,
            ):
                plan = session.plan(targets=targets)
                click.echo(text.render_plan(plan, style=options.style))
                # Statuses alone are not pushed, so a re-run with nothing to do leaves git as it
                # was. A replayed journal is.
                outcome = converge(
                    session,
                    plan,
                    proceed=functools.partial(_claimed, session, root, ws.lockfile),
                    record_unchanged=False,
                )
                if outcome.declined:
                    click.echo(
                        "The remote moved before the claim landed: planning again.", err=True
                    )
                    continue
                result = outcome.result
                if result is None:  # nothing to do
                    if _publish(root, ws.lockfile, session.lock, set(), commit_message(plan, [])):
                        nothing = apply_tally(plan, ApplyResult(records={}))
                        click.echo(f"\n{nothing}; the lockfile is pushed.")
                        return _report(outcome.failures)
                    continue
                echo_applied(result, session.lock.runs, options.style)
                touched = {a.name for a in plan.changes}
                records = session.lock.runs
                message = commit_message(plan, result.done, records, failures=outcome.failures)
                if not _publish(root, ws.lockfile, session.lock, touched, message):
                    raise ReconcilerError(
                        "the remote kept moving: the lockfile could not be pushed; "
                        "the runs are recorded in the local lockfile"
                    )
                click.echo(f"\n{apply_tally(plan, result)}; the lockfile is pushed.")
                return _report(outcome.failures)
    raise ReconcilerError(
        f"the remote kept moving: no claim landed in {ROUNDS} rounds; nothing was started"
    )


def _claimed(session: ApplySession, root: Path, lockfile: Path, plan: Plan) -> bool:
    """Claim the plan's starts in git before making them; False when the remote moved first."""
    claimed = session.claim(plan)
    if not claimed:
        return True
    names = "\n".join(f"- {a.name}" for a in plan.changes if a.start is not None)
    commit_lockfile(root, lockfile, f"reconciler: claim {claimed} start(s)\n\n{names}\n")
    return push(root)


def _publish(root: Path, lockfile: Path, ours: Lockfile, touched: set[str], message: str) -> bool:
    """Commit and push the lockfile; when the remote moved, merge ours onto it and retry."""
    for _ in range(ROUNDS):
        commit_lockfile(root, lockfile, message)
        if push(root):
            return True
        sync(root)
        upstream = read_lockfile(lockfile, display_path(lockfile))
        write_lockfile(lockfile, merged_lockfile(upstream, ours, touched))
    return False


def _report(failures: list[str]) -> int:
    if failures:
        raise ApplyError(failures)
    return 0
