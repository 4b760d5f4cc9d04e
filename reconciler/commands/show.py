from __future__ import annotations

import click

from reconciler.app.show import offline_rows, show_command
from reconciler.commands.options import Options, pass_options
from reconciler.render import text


@click.command()
@click.argument("name", required=False)
@click.option(
    "--offline",
    is_flag=True,
    help="Read the state only: no provider is asked and no credential needed; statuses are "
    "as the last apply recorded them.",
)
@pass_options
def show(options: Options, name: str | None, offline: bool) -> int:
    """What the lockfile records for each spec, beside the run's live status.

    DETAILS tells why a failed run failed, as its provider said (kept in the lockfile, so
    --offline shows it too), and how far an active run has got (progress, time elapsed).

    With NAME, that spec's run in full, including the commit that started it.
    """
    ws = options.workspace()
    if offline:
        rows = offline_rows(ws, name)
    else:
        with options.environment(ws) as env:
            rows = show_command(ws, env, name)
    click.echo(text.render_show(rows) if name is None else text.render_run(rows[0]))
    return 0
