"""CI templates and the pre-commit hook definition."""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import subprocess
import threading
import tomllib
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.cli import main

ROOT = Path(__file__).parents[2]
PACKAGED = ROOT / "reconciler" / "templates" / "ci"
TEMPLATES = sorted(PACKAGED.glob("*.yml"))
ACTION = ROOT / "action.yml"
# The command that installs, and the words before its requirements.
INSTALLERS = (
    ("pip", "install"),
    ("pip3", "install"),
    ("pipx", "install"),
    ("uv", "pip", "install"),
)
RELEASE = re.compile(r"(?P<name>[A-Za-z0-9._-]+)==\d+(\.\d+)*")
COMMIT = re.compile(r"(?P<name>[A-Za-z0-9._-]+) @ git\+https://\S+@[0-9a-f]{40}")
# The composite action's own checkout: the commit a workflow's `uses: owner/repo@sha` pins.
OWN_CHECKOUT = "$GITHUB_ACTION_PATH"


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_examples_are_the_packaged_templates(name: str) -> None:
    assert (ROOT / "examples" / "ci" / name).read_text() == (PACKAGED / name).read_text()
    YAML(typ="safe").load((PACKAGED / name).read_text())


def test_github_template_plans_on_pull_requests_and_applies_one_at_a_time() -> None:
    workflow = YAML(typ="safe").load((PACKAGED / "github-actions.yml").read_text())
    plan_steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["plan"]["steps"])
    assert "reconciler validate" in plan_steps
    assert "--format markdown" in plan_steps
    apply = workflow["jobs"]["apply"]
    assert apply["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    # Scheduled specs: apply also runs on a timer.
    assert workflow["on"]["schedule"] == [{"cron": "*/10 * * * *"}]
    assert "github.event_name == 'schedule'" in apply["if"]
    # The race-safe merge-job mode, not a hand-made commit and push.
    runs = [str(s.get("run", "")) for s in apply["steps"]]
    assert "reconciler apply --auto-approve --push" in runs
    assert not any("git push" in run for run in runs)
    gitlab = YAML(typ="safe").load((PACKAGED / "gitlab-ci.yml").read_text())["apply"]
    assert gitlab["script"][-1] == "reconciler apply --auto-approve --push"


def test_both_templates_plan_pull_requests_in_pull_request_mode() -> None:
    """The plan of a pull request trusts provider configuration only from the base branch,
    which it fetches first."""
    github = YAML(typ="safe").load((PACKAGED / "github-actions.yml").read_text())
    steps = github["jobs"]["plan"]["steps"]
    plan = next(s for s in steps if "reconciler plan" in str(s.get("run", "")))
    assert plan["env"]["RECONCILER_TRUSTED_REF"] == "origin/${{ github.base_ref }}"
    fetches = [i for i, s in enumerate(steps) if "git fetch" in str(s.get("run", ""))]
    assert fetches
    assert fetches[0] < steps.index(plan)
    gitlab = YAML(typ="safe").load((PACKAGED / "gitlab-ci.yml").read_text())["plan"]
    assert gitlab["variables"]["RECONCILER_TRUSTED_REF"] == (
        "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    )
    script = gitlab["script"]
    fetch = next(i for i, line in enumerate(script) if line.startswith("git fetch"))
    assert fetch < next(i for i, line in enumerate(script) if "reconciler plan" in line)


@pytest.mark.parametrize(
    ("ci", "target"), [("github", ".github/workflows/reconciler.yml"), ("gitlab", ".gitlab-ci.yml")]
)
def test_init_writes_the_pipeline(
    ci: str,
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--ci", ci]) == 0
    assert (tmp_path / "reconciler.yaml").exists()
    written = (tmp_path / target).read_text()
    template = "github-actions.yml" if ci == "github" else "gitlab-ci.yml"
    assert written == (PACKAGED / template).read_text()
    assert main(["init", "--ci", ci]) == 1  # never overwrites
    assert f"{target} already exists; nothing was written" in capsys.readouterr().err


def test_pre_commit_hook_definition() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks == [
        {
            "id": "reconciler-validate",
            "name": "reconciler validate",
            "description": "Check reconciler.yaml and every JobRun spec; report file:line:col "
            "for each problem.",
            "entry": "reconciler validate",
            "language": "python",
            "files": r"(^|/)(reconciler\.yaml|.*\.ya?ml)$",
            "pass_filenames": False,
            "require_serial": True,
        }
    ]


def distribution_name() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return normalized(str(project["name"]))


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # as the package index compares names


def shell_lines(template: Any) -> Iterator[str]:
    """Every line of every command the CI runs: GitHub steps' `run`, GitLab jobs' scripts."""
    if isinstance(template, dict):
        for key, value in template.items():
            if key == "run" and isinstance(value, str):
                yield from value.splitlines()
            elif key in ("script", "before_script", "after_script") and isinstance(value, list):
                yield from (line for item in value for line in str(item).splitlines())
            else:
                yield from shell_lines(value)
    elif isinstance(template, list):
        for item in template:
            yield from shell_lines(item)


def installed_requirements(line: str) -> Iterator[str]:
    """The requirements of each install command in a shell line (`python -m pip` included)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    command: list[str] = []
    for word in [*lexer, ";"]:
        if word and set(word) <= set("&|;()<>"):  # an operator ends the command
            yield from _requirements(command)
            command = []
        else:
            command.append(word)


def _requirements(words: list[str]) -> Iterator[str]:
    if words[:2] in (["python", "-m"], ["python3", "-m"]):
        words = words[2:]
    for installer in INSTALLERS:
        if tuple(words[: len(installer)]) == installer:
            yield from (w for w in words[len(installer) :] if not w.startswith("-"))


def requirement_problem(requirement: str) -> str | None:
    """Why a template must not install ``requirement``, if so."""
    if requirement == OWN_CHECKOUT:
        return None
    pinned = RELEASE.fullmatch(requirement) or COMMIT.fullmatch(requirement)
    if pinned is None:
        return "not pinned to a release or a commit"
    if normalized(pinned["name"]) != distribution_name():
        return "not our distribution"
    return None


@pytest.mark.parametrize("template", [*TEMPLATES, ACTION], ids=lambda path: path.name)
def test_templates_install_our_distribution_pinned(template: Path) -> None:
    """`reconciler` on the package index is another project: a bare or foreign name would
    install someone else's code in the pipeline that holds the provider credentials."""
    assert distribution_name() == "jobrun-reconciler"
    document = YAML(typ="safe").load(template.read_text())
    requirements = [r for line in shell_lines(document) for r in installed_requirements(line)]
    assert requirements, "the template installs nothing: the parse missed its install lines"
    assert {r: requirement_problem(r) for r in requirements} == dict.fromkeys(requirements)


@pytest.mark.parametrize(
    ("line", "requirement", "problem"),
    [
        ("pip install reconciler", "reconciler", "not pinned to a release or a commit"),
        (
            "apt-get -qq update && python -m pip install -q reconciler==1.0 >/dev/null",
            "reconciler==1.0",
            "not our distribution",
        ),
        (
            "uv pip install --system 'jobrun-reconciler @ git+https://x/y@main'",
            "jobrun-reconciler @ git+https://x/y@main",
            "not pinned to a release or a commit",
        ),
        ("echo go; pipx install Jobrun_Reconciler==0.2.0", "Jobrun_Reconciler==0.2.0", None),
        ('pip install "$GITHUB_ACTION_PATH"', "$GITHUB_ACTION_PATH", None),
        (
            'pip install "jobrun-reconciler==$VERSION"',
            "jobrun-reconciler==$VERSION",
            "not pinned to a release or a commit",
        ),
    ],
)
def test_install_lines_are_parsed_and_judged(
    line: str, requirement: str, problem: str | None
) -> None:
    assert list(installed_requirements(line)) == [requirement]
    assert requirement_problem(requirement) == problem


class FakeGitLab(http.server.BaseHTTPRequestHandler):
    """Merge-request notes as GitLab's API keeps them and pages them (offset pagination:
    ``page``, ``per_page`` at most 100, default 20; ``X-Next-Page`` empty on the last page):
    what the note step reads and writes. Each test serves its own (see ``serve_gitlab``)."""

    notes: list[dict[str, Any]]
    calls: list[tuple[str, str, str | None]]

    def _answer(self, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length", "0"))
        return dict(json.loads(self.rfile.read(length)))

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, self.headers.get("PRIVATE-TOKEN")))
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        page = int(query.get("page", ["1"])[0])
        per_page = min(int(query.get("per_page", ["20"])[0]), 100)
        ordered = self.notes if query.get("sort") == ["asc"] else self.notes[::-1]
        shown = ordered[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(ordered)
        self._answer(shown, {"X-Page": str(page), "X-Next-Page": str(page + 1) if more else ""})

    def do_POST(self) -> None:
        self.calls.append(("POST", self.path, self.headers.get("PRIVATE-TOKEN")))
        note = {"id": 1000 + len(self.notes), **self._body()}
        self.notes.append(note)
        self._answer(note)

    def do_PUT(self) -> None:
        self.calls.append(("PUT", self.path, self.headers.get("PRIVATE-TOKEN")))
        note_id = int(self.path.rsplit("/", 1)[1])
        note = next(n for n in self.notes if n["id"] == note_id)
        note.update(self._body())
        self._answer(note)

    def log_message(self, format: str, *args: Any) -> None:
        pass


NOTES = "/api/v4/projects/12/merge_requests/3/notes"
MARKER = "<!-- reconciler plan -->"


@pytest.fixture
def gitlab() -> Iterator[tuple[type[FakeGitLab], dict[str, str]]]:
    """A fake GitLab with no notes yet, and the job's environment pointing at it."""
    handler = type("Served", (FakeGitLab,), {"notes": [], "calls": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ["PATH"],
        "CI_API_V4_URL": f"http://127.0.0.1:{server.server_address[1]}/api/v4",
        "CI_PROJECT_ID": "12",
        "CI_MERGE_REQUEST_IID": "3",
    }
    try:
        yield handler, env
    finally:
        server.shutdown()
        server.server_close()


def note_step() -> str:
    script = YAML(typ="safe").load((PACKAGED / "gitlab-ci.yml").read_text())["plan"]["script"]
    return str(next(line for line in script if "RECONCILER_NOTE_TOKEN" in line))


def post_plan(root: Path, env: dict[str, str], plan: str) -> None:
    (root / "plan.md").write_text(f"### reconciler plan: {plan}\n")
    subprocess.run(["bash", "-ec", note_step()], cwd=root, env=env, check=True)


def test_gitlab_plan_note_is_posted_then_updated_in_place(
    tmp_path: Path, gitlab: tuple[type[FakeGitLab], dict[str, str]]
) -> None:
    served, env = gitlab
    (tmp_path / "plan.md").write_text("### reconciler plan: 1 to start\n")
    skipped = subprocess.run(["bash", "-ec", note_step()], cwd=tmp_path, env=env, check=False)
    assert skipped.returncode == 0  # without a token: the artifact only, the job passes
    assert served.calls == []
    env["RECONCILER_NOTE_TOKEN"] = "glpat-x"
    for plan in ("1 to start", "no changes"):
        post_plan(tmp_path, env, plan)
    assert [(method, path) for method, path, _ in served.calls] == [
        ("GET", f"{NOTES}?per_page=100&sort=asc&page=1"),
        ("POST", NOTES),
        ("GET", f"{NOTES}?per_page=100&sort=asc&page=1"),
        ("PUT", f"{NOTES}/1000"),
    ]
    assert {token for _, _, token in served.calls} == {"glpat-x"}
    assert served.notes == [{"id": 1000, "body": f"{MARKER}\n### reconciler plan: no changes\n"}]


def test_gitlab_plan_note_past_the_first_page_is_found_and_updated_not_duplicated(
    tmp_path: Path, gitlab: tuple[type[FakeGitLab], dict[str, str]]
) -> None:
    """A busy merge request: 150 notes (reviews, system notes) before the plan's, which lands
    on page 2 of 100; a mention of the marker inside another note is not ours."""
    served, env = gitlab
    served.notes.extend({"id": n, "body": f"review comment {n}"} for n in range(1, 151))
    served.notes[5]["body"] = f"why does the bot write {MARKER} notes?"  # not at the start
    env["RECONCILER_NOTE_TOKEN"] = "glpat-x"
    page = f"{NOTES}?per_page=100&sort=asc&page="
    post_plan(tmp_path, env, "1 to start")  # not on any page: read them all, then post
    assert [(method, path) for method, path, _ in served.calls] == [
        ("GET", f"{page}1"),
        ("GET", f"{page}2"),
        ("POST", NOTES),
    ]
    ours = served.notes[-1]
    assert ours["id"] == 1150
    served.notes.extend({"id": n, "body": f"later comment {n}"} for n in range(151, 261))
    served.calls.clear()
    for plan in ("2 to start", "no changes"):
        post_plan(tmp_path, env, plan)
    assert [(method, path) for method, path, _ in served.calls] == [
        ("GET", f"{page}1"),
        ("GET", f"{page}2"),  # found here: page 3 is not read
        ("PUT", f"{NOTES}/1150"),
    ] * 2
    mine = [n for n in served.notes if str(n["body"]).startswith(MARKER)]
    assert mine == [{"id": 1150, "body": f"{MARKER}\n### reconciler plan: no changes\n"}]
    assert len(served.notes) == 261  # updated in place: no second note
