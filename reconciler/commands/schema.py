from __future__ import annotations

from pathlib import Path

import click

from reconciler.commands.options import Options, pass_options
from reconciler.render.schemas import write_schemas


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default="schemas",
    show_default=True,
)
@pass_options
def schema(options: Options, directory: Path) -> int:
    """Write the JSON Schemas of every file format (spec, config, lockfile, plan)."""
    for path in write_schemas(directory):
        click.echo(f"wrote {path}")
    return 0
