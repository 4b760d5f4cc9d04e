from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import click

from reconciler.app.planning import plan_command, refresh_failures
from reconciler.app.saved_plan import seal_plan
from reconciler.commands.common import RefreshProgress
from reconciler.commands.options import EXIT_CHANGES, EXIT_OK, Options, pass_options
from reconciler.engine.actions import Plan
from reconciler.errors import ApplyError
from reconciler.inert import json_text
from reconciler.render import github, markdown, text
from reconciler.render.style import PLAIN, Style
from reconciler.state.document import json_chunks
from reconciler.state.files import check_writable, write_atomic

SUMMARY_LIMIT = 1_000_000  # GitHub shows a step summary of up to 1 MiB
GITLAB_NOTE_LIMIT = 1_000_000  # GitLab refuses a merge-request note of more characters


# The plan's fields of an entry per run, written an entry at a time (``json_chunks``).
PLAN_ENTRIES = ("records", "actions")


def render(
    plan: Plan,
    output_format: str,
    style: Style = PLAIN,
    full_plan: str | None = None,
    limit: int = markdown.COMMENT_LIMIT,
) -> str:
    if output_format == "markdown":
        return markdown.render_plan(plan, full_plan=full_plan, limit=limit)
    return text.render_plan(plan, style=style)


def comment_limit(environ: Mapping[str, str]) -> int:
    """How long the markdown plan may be: a GitHub comment's limit, or in GitLab CI (whose
    template posts it as a note and keeps it as the artifact) GitLab's note limit."""
    return GITLAB_NOTE_LIMIT if environ.get("GITLAB_CI") == "true" else markdown.COMMENT_LIMIT


def _echo_in_runs(chunks: Iterable[str], size: int = 1 << 20) -> None:
    """The chunks written in runs of about ``size`` characters: ``click.echo`` asks whether
    the output is a terminal on every call (200,000 entries: 1.4 s of it)."""
    run: list[str] = []
    length = 0
    for chunk in chunks:
        run.append(chunk)
        length += len(chunk)
        if length >= size:
            click.echo("".join(run), nl=False)
            run, length = [], 0
    click.echo("".join(run), nl=False)


@click.command()
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Save the plan for `apply PLANFILE`, with a digest; signed if RECONCILER_PLAN_KEY is set.",
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="NAME",
    help="Plan only this spec, or a removed spec's record (repeatable).",
)
@click.option(
    "--trusted-ref",
    metavar="REV",
    envvar="RECONCILER_TRUSTED_REF",
    help="Pull-request mode: trust provider configuration only as committed at this git "
    "revision (the base branch, e.g. origin/main). An instance whose configuration differs "
    "here is not refreshed and gets no credential; the change is shown for review. "
    "[env: RECONCILER_TRUSTED_REF]",
)
@pass_options
def plan(
    options: Options,
    out: Path | None,
    detailed_exitcode: bool,
    output_format: str,
    targets: tuple[str, ...],
    trusted_ref: str | None,
) -> int:
    """Show the start/stop actions that would make the providers match the specs."""
    if out is not None:
        check_writable(out)  # before the refresh, not after it
    ws = options.workspace()
    with options.environment(ws) as env:
        result = plan_command(
            ws, env, targets=targets, trusted_ref=trusted_ref or None, progress=RefreshProgress()
        )
    if out is not None:
        result = seal_plan(result, env.environ)
        write_atomic(out, json_chunks(result, PLAN_ENTRIES))
    if output_format == "json":
        _echo_in_runs(json_text(chunk) for chunk in json_chunks(result, PLAN_ENTRIES))
    else:
        limit = comment_limit(env.environ)
        url = github.run_url(env.environ)
        click.echo(render(result, output_format, options.style, url, limit))
    summary = env.environ.get("GITHUB_STEP_SUMMARY")
    if summary and github.in_actions(env.environ):  # the run's page shows the whole plan
        with open(summary, "a", encoding="utf-8") as page:
            page.write(markdown.render_plan(result, limit=SUMMARY_LIMIT) + "\n")
    if out is not None and output_format == "text":
        click.echo(f"\nSaved the plan to {out}; apply it with: reconciler apply {out}")
    failures = refresh_failures(result)
    if failures:
        raise ApplyError(failures)  # printed after the plan of what could be observed
    changed = bool(result.changes or result.config_review)
    return EXIT_CHANGES if detailed_exitcode and changed else EXIT_OK
