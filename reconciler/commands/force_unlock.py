from __future__ import annotations

import click

from reconciler.commands.common import confirmed
from reconciler.commands.options import Options, pass_options
from reconciler.inert import terminal


@click.command("force-unlock")
@click.argument("lock_id")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@pass_options
def force_unlock(options: Options, lock_id: str, force: bool) -> int:
    """Clear a stale state lock, by the ID its error message names.

    Asks first (as Terraform does) unless --force. Refused while a process on this machine
    still holds the lock. A lock whose holder died on this machine needs no clearing: the next
    apply takes it over by itself.
    """
    ws = options.workspace()
    question = f"Clear lock {terminal(lock_id)}? Only do so if its holder is surely gone."
    if not confirmed(question, skip=force, flag="--force"):
        click.echo("Cancelled; nothing was done.")
        return 1
    holder = ws.store.force_unlock(lock_id)
    held = f"pid {holder.pid} on {holder.host}, {holder.command}"  # as the lock note says
    click.echo(f"Cleared lock {terminal(lock_id)} ({terminal(held)}).")
    return 0
