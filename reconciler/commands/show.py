from __future__ import annotations

import click

from reconciler.commands.common import Options, pass_options
from reconciler.errors import UsageError, did_you_mean
from reconciler.render import text
from reconciler.workflow import show_command


@click.command()
@click.argument("name", required=False)
@pass_options
def show(options: Options, name: str | None) -> int:
    """What the lockfile records for each spec, beside the run's live status.

    With NAME, that spec's run in full, including the commit that started it.
    """
    ws = options.workspace()
    with options.environment(ws) as env:
        rows = show_command(ws, env)
    if name is None:
        click.echo(text.render_show(rows))
        return 0
    row = next((r for r in rows if r.name == name), None)
    if row is None:
        suggestion = did_you_mean(name, (r.name for r in rows))
        raise UsageError(f"the lockfile records no run for {name!r}{suggestion}")
    click.echo(text.render_run(row))
    return 0
