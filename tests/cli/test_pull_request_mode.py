"""Pull-request mode (`plan --trusted-ref`): provider configuration is trusted only as committed
at the base revision. A pull request that points an instance elsewhere, or swaps its credential
references, gets that instance withheld (no credential, no refresh) and the change shown for
review; the other instances plan as usual."""

from __future__ import annotations

import base64
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox.server import BackgroundSandbox
from tests.conftest import Listener, Repo

CANARY = "canary-xplenty-key-7f3a"
# Xplenty takes the key as the HTTP Basic user name: on the wire it is base64 of "key:".
CANARY_ON_THE_WIRE = (CANARY.encode(), base64.b64encode(f"{CANARY}:".encode()))


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener(b"HTTP/1.1 500 Nope\r\ncontent-length: 0\r\n\r\n")
    yield server
    server.close()


def config(xplenty_url: str, matatika_url: str, *, matatika_token: str = "MATATIKA_TOKEN") -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: reconciler/v1
        kind: Config
        providers:
          etl:
            type: xplenty
            base_url: {xplenty_url}
            account: acme
            credentials: {{api_key: env:XPLENTY_API_KEY}}
          elt:
            type: matatika
            base_url: {matatika_url}
            credentials: {{token: env:{matatika_token}}}
        specs: [specs]
        """
    )


ETL_SPEC = """\
apiVersion: reconciler/v1
kind: JobRun
metadata: {name: nightly-etl}
spec:
  provider: etl
  job: {cluster_id: 1, package_id: 7}
"""

ELT_SPEC = """\
apiVersion: reconciler/v1
kind: JobRun
metadata: {name: hubspot-sync}
spec:
  provider: elt
  job: {pipeline_id: pipe-1}
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def pr_repo(
    repo: Repo, sandbox: BackgroundSandbox, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> Repo:
    """main: both instances on the sandbox; the pull request (checked out, committed) points
    etl at the listener. Every loopback host is allowed, so only pull-request mode protects."""
    monkeypatch.setenv("XPLENTY_API_KEY", CANARY)
    monkeypatch.setenv("MATATIKA_TOKEN", "matatika-token")
    monkeypatch.setenv("RECONCILER_ALLOW_HOSTS", f"127.0.0.1:{sandbox.port},{listener.url[7:]}")
    root = repo.root
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    (root / "reconciler.yaml").write_text(
        config(f"{sandbox.url}/xplenty", f"{sandbox.url}/matatika/api")
    )
    repo.spec("etl.yaml", ETL_SPEC)
    repo.spec("elt.yaml", ELT_SPEC)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-qb", "pull-request")
    (root / "reconciler.yaml").write_text(config(listener.url, f"{sandbox.url}/matatika/api"))
    git(root, "commit", "-qam", "point etl elsewhere")
    return repo


def test_a_changed_instance_is_withheld_and_shown_for_review(
    pr_repo: Repo, listener: Listener
) -> None:
    code, out, err = pr_repo.run("plan", "--trusted-ref", "main", "--detailed-exitcode")

    assert (code, err) == (2, "")
    assert listener.received == b""
    assert CANARY not in out
    assert "+ start       hubspot-sync  elt:" in out  # the unchanged instance plans as usual
    assert "! not refreshed etl: 1 spec(s) (nightly-etl): its configuration changes in this" in out
    assert "~ instance etl changed (not refreshed until merged)" in out
    assert f'base_url: "http://127.0.0.1:{listener.port}' not in out  # old value first
    assert f'-> "{listener.url}"' in out
    assert "1 configuration change(s) to review." in out


def test_the_environment_variable_turns_it_on_and_markdown_shows_the_change(
    pr_repo: Repo, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECONCILER_TRUSTED_REF", "main")
    code, out, _ = pr_repo.run("plan", "--format", "markdown")

    assert code == 0
    assert listener.received == b""
    assert "**Configuration changes to review**" in out
    assert "- instance etl changed (not refreshed until merged)" in out
    assert "configuration change(s) to review" in out.splitlines()[0]


def test_swapped_credential_references_and_new_instances_are_withheld(
    pr_repo: Repo, sandbox: BackgroundSandbox, listener: Listener
) -> None:
    root = pr_repo.root
    # The matatika instance now asks for another secret, at the listener; a new instance points
    # at the listener too. (Asking for the xplenty key is refused anyway: one reference, one
    # provider type.)
    text = config(f"{sandbox.url}/xplenty", listener.url, matatika_token="OTHER_SECRET")
    text = text.replace(
        "specs: [specs]",
        f"  extra:\n    type: xplenty\n    base_url: {listener.url}\n    account: a\n"
        "    credentials: {api_key: env:XPLENTY_API_KEY}\nspecs: [specs]",
    )
    (root / "reconciler.yaml").write_text(text)
    pr_repo.spec("extra.yaml", ETL_SPEC.replace("nightly-etl", "extra").replace(": etl", ": extra"))

    code, out, err = pr_repo.run("plan", "--trusted-ref", "main")

    assert (code, err) == (0, "")
    assert listener.received == b""
    assert CANARY not in out
    assert "~ instance elt changed (not refreshed until merged)" in out
    assert 'credentials.token: "env:MATATIKA_TOKEN" -> "env:OTHER_SECRET"' in out
    assert "~ instance extra added (not refreshed until merged)" in out
    assert "+ start       nightly-etl" in out  # etl is as on main again: refreshed


def test_without_pull_request_mode_the_hostile_edit_reaches_the_listener(
    pr_repo: Repo, listener: Listener
) -> None:
    """The control: the same repository planned in plain mode, with the listener allowed from
    outside, sends the key there, so the tests above would see a leak."""
    pr_repo.run("plan")
    assert any(c in listener.received for c in CANARY_ON_THE_WIRE)


def test_an_unknown_trusted_revision_is_one_line(pr_repo: Repo, listener: Listener) -> None:
    code, out, err = pr_repo.run("plan", "--trusted-ref", "origin/nope")

    assert (code, out) == (1, "")
    assert err.startswith("Error: --trusted-ref 'origin/nope': no such commit")
    assert len(err.splitlines()) == 1
    assert listener.received == b""


def test_a_base_without_reconciler_yaml_trusts_no_instance(
    pr_repo: Repo, listener: Listener
) -> None:
    root = pr_repo.root
    empty_tree = git(root, "hash-object", "-t", "tree", "/dev/null")
    git(root, "branch", "empty", git(root, "commit-tree", empty_tree, "-m", "empty"))

    code, out, _ = pr_repo.run("plan", "--trusted-ref", "empty")

    assert code == 0
    assert listener.received == b""
    assert "~ instance elt added (not refreshed until merged)" in out
    assert "~ instance etl added (not refreshed until merged)" in out
