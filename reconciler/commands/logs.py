from __future__ import annotations

import click

from reconciler.app.logs import logs_command
from reconciler.commands.options import Options, pass_options
from reconciler.inert import terminal


@click.command()
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing what the run logs until it ends.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="With --follow: how often to ask for more.",
)
@pass_options
def logs(options: Options, name: str, follow: bool, interval: float) -> int:
    """Print the log of the run the lockfile records for spec NAME, as its provider keeps it
    (Xplenty, Matatika; Runner and Vonage keep none a run can be asked for)."""
    ws = options.workspace()
    with options.environment(ws) as env:
        logs_command(
            ws,
            env,
            name,
            follow=follow,
            interval=interval,
            echo=lambda line: click.echo(terminal(line)),
        )
    return 0
