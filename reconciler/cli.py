"""Command line: thin commands over the use cases in ``reconciler.app``, and the one error boundary.

Exit codes: 0 success (no changes), 1 error, 2 changes present (``plan --detailed-exitcode``),
3 internal error (a bug: the traceback is printed).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from reconciler import __version__
from reconciler.commands import COMMANDS
from reconciler.commands.options import EXIT_BUG, EXIT_ERROR, EXIT_OK, Options
from reconciler.errors import InputError, ReconcilerError
from reconciler.inert import terminal
from reconciler.providers.hosts import ALLOW_HOSTS_VARIABLE, allowed_hosts
from reconciler.render import github
from reconciler.render.style import Style, wanted

# httpcore's DEBUG trace logs every response's headers (Set-Cookie, tokens); hpack, with HTTP/2,
# every header both ways. --debug keeps them at INFO: httpx's line per call is what it shows.
HEADER_LOGGERS = ("httpcore", "hpack")
# httpx's line per call names the URL, and a base_url's user:password@ is an Authorization.
_URL_USERINFO = re.compile(r"(\w+://)[^/\s@]+@")


class LazyGroup(click.Group):
    """Commands imported when one runs: ``--help`` lists them from ``COMMANDS``' summaries."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"reconciler.commands.{COMMANDS[cmd_name][0]}")
        command: click.Command = getattr(module, COMMANDS[cmd_name][0])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_, summary) in COMMANDS.items()
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path, dir_okay=False),
    default="reconciler.yaml",
    show_default=True,
    help="The repository's reconciler.yaml.",
)
@click.option(
    "--lockfile",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Keep the state here instead of reconciler.yaml's `lockfile` (which must lie in the "
    "repository); the journal and lock note go beside it.",
)
@click.option(
    "--sandbox",
    is_flag=True,
    help="Start the embedded sandbox and point every provider instance at it "
    "(state kept in .reconciler/ of the repository).",
)
@click.option(
    "--sandbox-seed",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Seed file for --sandbox (accounts, keys, run durations and outcomes).",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Also send credentials to this host (repeatable; also $RECONCILER_ALLOW_HOSTS, "
    "comma-separated). Without a port, any port. Plain http only to an allowed loopback host.",
)
@click.option(
    "--no-color",
    is_flag=True,
    help="No colour, even on a terminal (also $NO_COLOR; $FORCE_COLOR turns it on).",
)
@click.option("--debug", is_flag=True, help="Log HTTP calls and show tracebacks.")
@click.version_option(__version__, prog_name="reconciler")
@click.pass_context
def cli(
    ctx: click.Context,
    config: Path,
    lockfile: Path | None,
    sandbox: bool,
    sandbox_seed: Path | None,
    allow_hosts: tuple[str, ...],
    no_color: bool,
    debug: bool,
) -> None:
    """Declarative GitOps reconciler for job runs.

    Specs in git say which job runs should exist; `plan` shows the start/stop actions that
    would converge the providers to them, `apply` performs them and records the outcome in
    reconciler.lock.
    """
    if debug:
        ctx.call_on_close(_log_to_stderr())
    try:
        hosts = allowed_hosts(allow_hosts, os.environ.get(ALLOW_HOSTS_VARIABLE))
    except ValueError as exc:
        raise click.UsageError(f"--allow-host / ${ALLOW_HOSTS_VARIABLE}: {exc}") from None
    colour = wanted(os.environ, no_color=no_color, is_terminal=sys.stdout.isatty())
    ctx.obj = Options(
        config=config,
        sandbox=sandbox,
        sandbox_seed=sandbox_seed,
        debug=debug,
        allowed_hosts=hosts,
        lockfile=lockfile,
        style=Style(colour),
    )
    ctx.color = colour or None  # click.echo strips colour off a terminal unless told


class _InertFormatter(logging.Formatter):
    """Log records quote servers (URLs, messages, exceptions): a record's message is one line
    of terminal text with no URL's credentials, and a traceback under it is escaped line by
    line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal(_URL_USERINFO.sub(r"\1***@", super().formatMessage(record)))

    def formatException(self, ei: Any) -> str:
        return _escaped_lines(super().formatException(ei))


def _escaped_lines(text: str) -> str:
    """Multi-line text (a traceback) with each line escaped; only newlines still break it, so
    a CR or a separator in an exception's message is shown, not acted on."""
    return "\n".join(terminal(line) for line in text.split("\n"))


def _log_to_stderr() -> Callable[[], None]:
    """--debug: log at DEBUG to stderr, header-logging libraries excepted; returns the undoing
    (for the CLI called in-process, as tests do)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_InertFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    quieted = [logging.getLogger(name) for name in HEADER_LOGGERS]
    levels = [root.level, *(logger.level for logger in quieted)]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for logger in quieted:
        logger.setLevel(logging.INFO)

    def undo() -> None:
        root.removeHandler(handler)
        for logger, level in zip([root, *quieted], levels, strict=True):
            logger.setLevel(level)

    return undo


def main(argv: list[str] | None = None) -> int:
    """Entry point: the one place where errors become messages and exit codes."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="reconciler", standalone_mode=False)
    except ReconcilerError as exc:
        if debug:
            _print_traceback()
        for line in exc.lines():
            click.echo(f"Error: {terminal(line)}", err=True)
        if github.in_actions(os.environ):  # and as annotations on the lines they name
            if isinstance(exc, InputError):
                annotations = [github.annotation(p) for p in exc.problems]
            else:
                annotations = [github.error_annotation(line) for line in exc.lines()]
            # On stderr, which the runner reads for workflow commands as it reads stdout:
            # stdout may be the plan a step saves (`plan --format markdown > plan.md`).
            click.echo("\n".join(annotations), err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR  # click uses 2, which here means "changes present"
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except OSError as exc:
        if exc.filename is None:
            return _bug()
        # An OS error on a file (ours or the user's) is a problem to fix there, not a bug.
        if debug:
            _print_traceback()
        click.echo(f"Error: {terminal(_file_error(exc))}", err=True)
        return EXIT_ERROR
    except Exception:
        return _bug()
    return result if isinstance(result, int) else EXIT_OK


def _bug() -> int:
    _print_traceback()
    click.echo("reconciler: internal error (a bug); please report it with the above.", err=True)
    return EXIT_BUG


def _file_error(exc: OSError) -> str:
    """``cannot use PATH: cause`` (and the second path of a rename or link)."""
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"cannot use {' -> '.join(paths)}: {exc.strerror or exc}"


def _print_traceback() -> None:
    """The traceback of the exception being handled; its messages may quote a server."""
    click.echo(_escaped_lines(traceback.format_exc().rstrip("\n")), err=True)


def run() -> None:
    """Console script entry point."""
    sys.exit(main())
