"""``journal show`` and ``journal set-aside``: the documented way out of a damaged journal."""

from __future__ import annotations

import click

from reconciler.commands.common import confirmed, lock_timeout_option
from reconciler.commands.options import Options, pass_options
from reconciler.errors import display_path
from reconciler.inert import terminal
from reconciler.state.entries import (
    IntentEntry,
    StartedEntry,
    StartFailedEntry,
    StopEntry,
    StopIntentEntry,
    fold,
)
from reconciler.state.journal import JournalLine, scan
from reconciler.state.lock import command_line
from reconciler.state.lockfile import read_lockfile
from reconciler.state.model import RunRecord
from reconciler.state.recovery import set_aside, unconfirmed


@click.group()
def journal() -> None:
    """Inspect or set aside the journal an interrupted apply left (reconciler.lock.journal).

    Every command replays a journal it finds; a damaged one stops them all, since a line that
    cannot be read may have been the intent of a run that now exists.
    """


@journal.command("show")
@pass_options
def show(options: Options) -> int:
    """Each line of the journal, what it means, and the starts it leaves unconfirmed."""
    ws = options.workspace().state_files("reconciler journal show")
    lines = scan(ws.journal)
    if not lines:
        click.echo(f"No journal entries in {display_path(ws.journal)}: the last apply finished.")
        return 0
    damaged = sum(line.entry is None for line in lines)
    click.echo(f"{display_path(ws.journal)}: {len(lines)} line(s), {damaged} damaged")
    for line in lines:
        click.echo(f"{line.number:>5}  {terminal(_meaning(line))}")
    before = read_lockfile(ws.lockfile, display_path(ws.lockfile))
    after = fold(before, [line.entry for line in lines if line.entry is not None])
    _echo_unconfirmed(unconfirmed(after, before))
    return 0


@journal.command("set-aside")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@lock_timeout_option(default=0.0)
@pass_options
def set_aside_command(options: Options, yes: bool, lock_timeout: float) -> int:
    """Replay the journal's readable entries into the lockfile and move the journal aside.

    Its damaged lines are not replayed: if one was the intent of a start, that run may exist
    at the provider with no record, and a later apply may start the spec again (providers
    whose runs carry our key, Xplenty and Vonage, adopt it by the key instead). Check the
    unconfirmed starts listed at the provider first.
    """
    ws = options.workspace().state_files("reconciler journal set-aside")
    if not confirmed("Replay what can be read and set the journal aside?", skip=yes, flag="--yes"):
        click.echo("Cancelled; nothing was done.")
        return 1
    done = set_aside(ws, command_line(), lock_timeout=lock_timeout)
    click.echo(
        f"Replayed {done.replayed} entr{'y' if done.replayed == 1 else 'ies'} into "
        f"{display_path(ws.lockfile)}; the journal is now {display_path(done.path)}."
    )
    for line in done.damaged:
        click.echo(f"Not replayed: line {line.number}: {terminal(line.problem or '')}")
    _echo_unconfirmed(done.unconfirmed)
    return 0


def _meaning(line: JournalLine) -> str:
    entry = line.entry
    if isinstance(entry, IntentEntry):
        record = entry.record
        return (
            f"intent       {record.name}: start attempt {record.attempt} at {record.instance} "
            f"(run key {record.run_key})"
        )
    if isinstance(entry, StartedEntry):
        return f"started      {entry.name}: run {entry.run_id} ({entry.status.value})"
    if isinstance(entry, StartFailedEntry):
        return f"start_failed {entry.name}: the provider refused the start"
    if isinstance(entry, StopIntentEntry):
        return f"stop_intent  {entry.name}: stop run {entry.run_id} ({entry.reason.value})"
    if isinstance(entry, StopEntry):
        return f"stop         {entry.name}: run {entry.run_id} {entry.status.value}"
    return f"damaged      {line.problem}"


def _echo_unconfirmed(records: list[RunRecord]) -> None:
    for record in records:
        how = (
            f"by the snapshot of {len(record.prior_runs)} run(s) of {record.scope}"
            if record.prior_runs is not None
            else "by its run key"
        )
        click.echo(
            f"Unconfirmed start: {terminal(record.name)} attempt {record.attempt} at "
            f"{terminal(record.instance)}: its run may exist; the next plan looks for it {how}."
        )
