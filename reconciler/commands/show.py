from __future__ import annotations

import click

from reconciler.commands.common import Options, pass_options
from reconciler.render import text
from reconciler.workflow import show_command


@click.command()
@pass_options
def show(options: Options) -> int:
    """What the lockfile records for each spec, beside the run's live status."""
    ws = options.workspace()
    with options.environment(ws) as env:
        rows = show_command(ws, env)
    click.echo(text.render_show(rows))
    return 0
