from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from reconciler.commands.options import Options, pass_options
from reconciler.errors import UsageError
from reconciler.render.schemas import write_schemas
from reconciler.state.files import StateFiles

CONFIG = """\
# yaml-language-server: $schema=schemas/config.v1.json
apiVersion: reconciler/v1
kind: Config
providers:
  integrate-prod:
    type: xplenty
    base_url: https://api.xplenty.com
    account: my-account
    credentials:
      api_key: env:XPLENTY_API_KEY   # env:NAME or file:PATH; never the key itself
    concurrency: 4
    rate_limit: {calls: 5000, per: 1h}
specs: [specs]
lockfile: reconciler.lock
prune: false
"""

EXAMPLE = """\
# yaml-language-server: $schema=../schemas/jobrun.v1.json
apiVersion: reconciler/v1
kind: JobRun
metadata:
  name: example-run
spec:
  provider: integrate-prod
  job:
    cluster_id: 167
    package_id: 103
    variables: {START: "'2026-11-01'"}
  state: completed
  retry: {limit: 1}
  timeout: 2h
"""

_STATE = StateFiles(Path("reconciler.lock"))  # as CONFIG names it
# The lock note, the journal, a killed write's temp files, the sandbox's state and saved plans
# (`plan -o x.plan.json`: made for one apply, stale after it) are this machine's, never git's.
IGNORED = [_STATE.lock.name, _STATE.journal.name, ".*.tmp", ".reconciler/", "*.plan.json"]


CI_TEMPLATES = {
    "github": ("github-actions.yml", Path(".github") / "workflows" / "reconciler.yml"),
    "gitlab": ("gitlab-ci.yml", Path(".gitlab-ci.yml")),
}


@click.command()
@click.option(
    "--ci",
    type=click.Choice(sorted(CI_TEMPLATES)),
    help="Also write a CI pipeline: plan on pull requests, apply on the main branch.",
)
@pass_options
def init(options: Options, ci: str | None) -> int:
    """Start a spec repository here: reconciler.yaml, an example spec, the JSON Schemas their
    first lines point editors to, .gitignore entries."""
    root = options.config.parent
    if ci is not None and options.config.exists():
        return _write_ci(root, ci)  # an existing repository that only wants the pipeline
    example = root / "specs" / "example.yaml"
    existing = [p for p in (options.config, example) if p.exists()]
    if existing:
        raise UsageError(f"{existing[0]} already exists; nothing was written")
    example.parent.mkdir(parents=True, exist_ok=True)
    options.config.write_text(CONFIG, encoding="utf-8")
    example.write_text(EXAMPLE, encoding="utf-8")
    write_schemas(root / "schemas")
    _ignore(root / ".gitignore")
    click.echo(f"Wrote {options.config}, {example} and schemas/. Next: reconciler --sandbox plan")
    return _write_ci(root, ci) if ci is not None else 0


def _write_ci(root: Path, ci: str) -> int:
    template, target = CI_TEMPLATES[ci]
    path = root / target
    if path.exists():
        raise UsageError(f"{path} already exists; nothing was written")
    text = resources.files("reconciler.templates").joinpath("ci", template).read_text("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {path}: set the provider credentials as CI secrets.")
    return 0


def _ignore(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [entry for entry in IGNORED if entry not in lines]
    if missing:
        path.write_text("\n".join([*lines, *missing]) + "\n", encoding="utf-8")
