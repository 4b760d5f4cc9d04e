"""What every command shares: global options, the environment, exit codes."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Mapping

import click

from reconciler.engine.apply import ApplyResult
from reconciler.errors import UsageError
from reconciler.render import text
from reconciler.render.style import PLAIN, Style
from reconciler.render.summary import DONE_WORDS
from reconciler.state.model import RunRecord


def echo_applied(
    result: ApplyResult, records: Mapping[str, RunRecord], style: Style = PLAIN
) -> None:
    """Each change apply made, with the run it started, adopted or stopped (if any)."""
    if any(a.kind.is_change for a in result.done):
        click.echo("\n" + text.render_applied(result.done, records, style))


class _StatusLine:
    """Progress on stderr while something long is under way: on a terminal, one live line
    (redrawn, then cleared); elsewhere (CI logs) a heartbeat line every 10 seconds."""

    def __init__(self, doing: str) -> None:
        self.doing = doing  # "applying", "refreshing"
        self.live = sys.stderr.isatty()
        self.every = 0.5 if self.live else 10.0
        self.drawn = False

    def show(self, line: str, elapsed: float) -> None:
        if self.live:
            shown = f"\r\x1b[2K{self.doing.capitalize()}: {line} [{int(elapsed)}s elapsed]"
            click.echo(shown, nl=False, err=True)
            self.drawn = True
        else:
            click.echo(f"Still {self.doing}: {line} [{int(elapsed)}s elapsed]", err=True)

    def finish(self) -> None:
        """The live line gone, so the screen ends as without it."""
        if self.drawn:
            click.echo("\r\x1b[2K", nl=False, err=True)
            self.drawn = False


class ApplyProgress(_StatusLine):
    """While an apply's actions are under way: how many of them are done, of which kinds."""

    def __init__(self, total: int) -> None:
        super().__init__("applying")
        self.total = total

    def report(self, result: ApplyResult, elapsed: float) -> None:
        done = Counter(DONE_WORDS[a.kind] for a in result.done if a.kind in DONE_WORDS)
        parts = [f"{n} {word}" for word, n in sorted(done.items())]
        if result.failures:
            parts.append(f"{len(result.failures)} failed")
        finished = len(result.done) + len(result.failures)
        line = f"{finished} of {self.total} actions done" + (
            f" ({', '.join(parts)})" if parts else ""
        )
        self.show(line, elapsed)


class RefreshProgress(_StatusLine):
    """While the providers are listed before a plan: the calls made so far, per instance."""

    def __init__(self) -> None:
        super().__init__("refreshing")

    def refreshing(self, calls: Mapping[str, int], elapsed: float) -> None:
        total = sum(calls.values())
        each = ", ".join(f"{name} {n}" for name, n in sorted(calls.items()))
        self.show(f"{total} API call{'s' if total != 1 else ''} ({each})", elapsed)


def confirmed(question: str, *, skip: bool, flag: str) -> bool:
    """``skip`` (the command's ``flag``) or a person's 'yes'; refused when no one can answer,
    as Terraform does, rather than taken as a yes."""
    if skip:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to go on without confirmation: pass {flag}")
    click.echo("")
    answer = click.prompt(f"{question} Only 'yes' will be accepted", default="", show_default=False)
    return bool(answer.strip() == "yes")


def lock_timeout_option(default: float) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """``--lock-timeout SECONDS``, shared by the commands that take the state lock."""
    return click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        default=default,
        show_default=True,
        metavar="SECONDS",
        help="Wait this long for another apply to release the state lock.",
    )
