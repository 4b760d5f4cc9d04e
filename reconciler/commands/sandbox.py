from __future__ import annotations

from pathlib import Path

import click

from reconciler.commands.options import Options, pass_options


@click.group()
def sandbox() -> None:
    """The embedded provider emulators."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--seed",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Seed YAML: accounts, keys, run durations and outcomes.",
)
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SQLite file to keep runs in (default: memory).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="PROVIDER.KEY=VALUE",
    help="Inject faults, as the seed's `faults:` does (repeatable), e.g. "
    "xplenty.server_errors=0.2 or runner.drops_after=0.05.",
)
@pass_options
def serve(
    options: Options,
    host: str,
    port: int,
    seed: Path | None,
    state: Path | None,
    faults: tuple[str, ...],
) -> int:
    """Serve every provider type's emulator at /TYPE, and the clock at /_sandbox/clock."""
    from reconciler.sandbox.emulators import EMULATORS
    from reconciler.sandbox.seed import load_seed, with_faults
    from reconciler.sandbox.server import listen
    from reconciler.sandbox.server import serve as run_server

    loaded = with_faults(load_seed(seed), faults)
    sock = listen(host, port)
    port = sock.getsockname()[1]  # the one the system chose for --port 0
    prefixes = " ".join(e.prefix() for e in EMULATORS)
    click.echo(f"reconciler sandbox on http://{host}:{port} ({prefixes})")
    run_server(sock=sock, seed=loaded, state=state)
    return 0
