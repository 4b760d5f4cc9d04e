from __future__ import annotations

import click

from reconciler.app.show import show_command
from reconciler.commands.common import Options, pass_options
from reconciler.render import text


@click.command()
@click.argument("name", required=False)
@pass_options
def show(options: Options, name: str | None) -> int:
    """What the lockfile records for each spec, beside the run's live status.

    With NAME, that spec's run in full, including the commit that started it.
    """
    ws = options.workspace()
    with options.environment(ws) as env:
        rows = show_command(ws, env, name)
    click.echo(text.render_show(rows) if name is None else text.render_run(rows[0]))
    return 0
