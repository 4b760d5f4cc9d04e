"""Pull-request mode (`plan --trusted-ref`): provider configuration is trusted only as committed
at the base revision. A pull request that points an instance elsewhere, or swaps its credential
references, gets that instance withheld (no credential, no refresh) and the change shown for
review; the other instances plan as usual."""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
import textwrap
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.sandbox.server import BackgroundSandbox
from tests.conftest import Listener, Repo
from tests.security.conftest import CANARY as SECURITY_CANARY
from tests.security.conftest import ENV as SECURITY_ENV

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


# Every hostile edit of issue 10, in pull-request mode, on a repository with one instance of
# each provider type. The base revision points every instance at the sandbox; the listener is
# allowed from outside too, so that only pull-request mode stands between an edit and a leak.

JWT_CANARY = f"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJzYW5kYm94In0.{SECURITY_CANARY}-jwt"
FOUR_CONFIG = """\
apiVersion: reconciler/v1
kind: Config
providers:
  etl:
    type: xplenty
    base_url: '{sandbox}/xplenty'
    account: acme
    credentials: {{api_key: 'env:XPLENTY_API_KEY'}}
  ctl:
    type: runner
    base_url: '{sandbox}/runner'
    account: ACME
    options: {{auth_url: '{sandbox}/runner'}}
    credentials: {{username: 'env:CLC_USERNAME', password: 'env:CLC_PASSWORD'}}
  campaigns:
    type: vonage
    base_url: '{sandbox}/vonage/beta'
    credentials: {{token: 'env:VONAGE_JWT'}}
  elt:
    type: matatika
    base_url: '{sandbox}/matatika/api'
    credentials: {{token: 'env:MATATIKA_TOKEN'}}
specs: [specs]
"""
FOUR_SPECS = {
    "etl": "{cluster_id: 1, package_id: 2}",
    "ctl": "{job_id: job-1, hosts: [{id: web-01}]}",
    "campaigns": "{job_id: job-1, duration: 2h}",
    "elt": "{pipeline_id: pipeline-1}",
}
TYPE_PATHS = {  # provider type: (its instance, where the sandbox serves it)
    "xplenty": ("etl", "/xplenty"),
    "runner": ("ctl", "/runner"),
    "vonage": ("campaigns", "/vonage/beta"),
    "matatika": ("elt", "/matatika/api"),
}


@dataclass(frozen=True)
class Edit:
    """``key`` of ``instance`` changed from ``old`` to ``new`` by the pull request; the values
    are templates of {sandbox}, {port} (the listener's) and {tmp}."""

    instance: str
    key: str
    old: str
    new: str


HOSTILE_EDITS = {
    **{
        f"base_url-{scheme}-{kind}": Edit(
            instance, "base_url", "{sandbox}" + path, scheme + "://127.0.0.1:{port}"
        )
        for scheme in ("https", "http")
        for kind, (instance, path) in TYPE_PATHS.items()
    },
    "runner-auth_url-alone": Edit(
        "ctl", "options.auth_url", "{sandbox}/runner", "http://127.0.0.1:{port}"
    ),
    "file-home-ssh-key": Edit(
        "etl", "credentials.api_key", "env:XPLENTY_API_KEY", "file:~/.ssh/id_rsa"
    ),
    "file-dot-dot": Edit("etl", "credentials.api_key", "env:XPLENTY_API_KEY", "file:../../x"),
    "file-absolute": Edit(
        "etl", "credentials.api_key", "env:XPLENTY_API_KEY", "file:{tmp}/elsewhere/secret.key"
    ),
    "file-dev-zero": Edit("etl", "credentials.api_key", "env:XPLENTY_API_KEY", "file:/dev/zero"),
}


@dataclass(frozen=True)
class FourRepo:
    repo: Repo
    tmp: Path
    sandbox: str
    listener: Listener
    planted: frozenset[Path]  # where the canary files are meant to be

    def values(self, template: str) -> str:
        return template.format(sandbox=self.sandbox, port=self.listener.port, tmp=self.tmp)

    def propose(self, instance: str, key: str, old: str, new: str) -> None:
        """Commit, on the pull request's branch, ``key: old`` of ``instance`` as ``new``."""
        config = self.repo.root / "reconciler.yaml"
        text = config.read_text()
        start = text.index(f"\n  {instance}:\n")
        line = f"{key.rsplit('.', 1)[-1]}: '{self.values(old)}'"
        at = text.index(line, start)
        config.write_text(
            text[:at] + line.replace(self.values(old), self.values(new)) + text[at + len(line) :]
        )
        git(self.repo.root, "commit", "-qam", "a hostile edit")

    def leaks(self) -> list[str]:
        """Files under the temporary directory (repository, home, temp files, git objects)
        holding a canary, the planted ones aside."""
        found = []
        for path in sorted(self.tmp.rglob("*")):
            if path in self.planted or path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if path.parent.parent.name == "objects" and len(path.parent.name) == 2:
                # a loose git object: zlib-compressed
                data += zlib.decompress(data)
            if SECURITY_CANARY.encode() in data:
                found.append(str(path.relative_to(self.tmp)))
        return found


@pytest.fixture
def four(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sandbox: BackgroundSandbox,
    listener: Listener,
) -> FourRepo:
    """main: the four instances on the sandbox, canary credentials; checked out: the pull
    request's branch. Files of canary content sit where the hostile references point."""
    root, credentials, temp = tmp_path / "repo", tmp_path / "ci" / "credentials", tmp_path / "tmp"
    for directory in (root, credentials, temp, tmp_path / "home" / ".ssh", tmp_path / "elsewhere"):
        directory.mkdir(parents=True)
    planted = {
        tmp_path / "home" / ".ssh" / "id_rsa": "ssh",
        tmp_path / "x": "dot-dot",  # file:../../x from the credential directory
        tmp_path / "elsewhere" / "secret.key": "absolute",
        credentials / "canary.key": "file",
    }
    for path, what in planted.items():
        path.write_text(f"{SECURITY_CANARY}-{what}\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # what this process creates, scanned
    monkeypatch.setenv("RECONCILER_CREDENTIAL_DIRS", str(credentials))
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("RECONCILER_TRUSTED_REF", raising=False)
    for name, value in {**SECURITY_ENV, "VONAGE_JWT": JWT_CANARY}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(
        "RECONCILER_ALLOW_HOSTS", f"127.0.0.1:{sandbox.port},127.0.0.1:{listener.port}"
    )
    repo = Repo(root, capsys)
    (root / "reconciler.yaml").write_text(FOUR_CONFIG.format(sandbox=sandbox.url))
    for instance, job in FOUR_SPECS.items():
        repo.spec(
            f"{instance}.yaml",
            f"apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {{name: {instance}-run}}\n"
            f"spec:\n  provider: {instance}\n  job: {job}\n",
        )
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "dev@example.com")
    git(root, "config", "user.name", "Dev")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-qb", "pull-request")
    return FourRepo(repo, tmp_path, sandbox.url, listener, frozenset(planted))


def test_the_base_revision_plans_every_instance(four: FourRepo) -> None:
    """The control: unchanged, all four instances refresh against the sandbox and plan."""
    code, out, err = four.repo.run("plan", "--trusted-ref", "main")
    assert (code, err, out.count(" + start ")) == (0, "", 4), out
    assert "configuration change" not in out
    assert four.leaks() == []
    # ... and the scan finds a canary in a file, committed (compressed in .git) or not.
    (four.repo.root / "leak").write_text(SECURITY_ENV["XPLENTY_API_KEY"])
    git(four.repo.root, "add", "leak")
    leaks = four.leaks()
    assert "repo/leak" in leaks
    assert any(leak.startswith("repo/.git/objects/") for leak in leaks), leaks


@pytest.mark.parametrize("edit", HOSTILE_EDITS.values(), ids=HOSTILE_EDITS.keys())
def test_every_hostile_edit_is_withheld_in_pull_request_mode(four: FourRepo, edit: Edit) -> None:
    four.propose(edit.instance, edit.key, edit.old, edit.new)

    code, out, err = four.repo.run("plan", "--trusted-ref", "main")

    assert four.listener.connections == 0
    assert four.listener.received == b""
    assert SECURITY_CANARY not in out + err
    assert four.leaks() == []
    assert (code, err) == (0, ""), out
    assert f"! not refreshed {edit.instance}: 1 spec(s) ({edit.instance}-run)" in out
    assert f"~ instance {edit.instance} changed (not refreshed until merged)" in out
    old, new = four.values(edit.old), four.values(edit.new)
    assert f'{edit.key}: "{old}" -> "{new}"' in out
    assert "1 configuration change(s) to review." in out
    assert out.count(" + start ") == 3  # the other instances plan as usual


CONTROLS = {  # what each edit sends to the listener when the pull request's config is trusted
    "base_url-http-xplenty": base64.b64encode(f"{SECURITY_ENV['XPLENTY_API_KEY']}:".encode()),
    "base_url-http-vonage": JWT_CANARY.encode(),
    "base_url-http-matatika": SECURITY_ENV["MATATIKA_TOKEN"].encode(),
    # The login, whose body holds user name and password (the listener keeps a connection's
    # first segment, here the headers; the tests above count connections: none).
    "runner-auth_url-alone": b"POST /v2/authentication/login ",
}


@pytest.mark.parametrize(("edit", "sent"), CONTROLS.items(), ids=CONTROLS.keys())
def test_without_pull_request_mode_the_same_edits_reach_the_listener(
    four: FourRepo, edit: str, sent: bytes
) -> None:
    """The control: planned in plain mode, with the listener allowed from outside, the edits
    above send the credential there, so the test above would see a leak."""
    change = HOSTILE_EDITS[edit]
    four.propose(change.instance, change.key, change.old, change.new)
    four.repo.run("plan")
    assert sent in four.listener.received


def test_one_providers_secret_asked_for_by_another_is_refused(four: FourRepo) -> None:
    """``token: env:VONAGE_JWT`` on the Matatika instance: refused from the text alone (no
    value read), naming both instances and the reference, before any request."""
    four.propose("elt", "credentials.token", "env:MATATIKA_TOKEN", "env:VONAGE_JWT")
    four.propose("elt", "base_url", "{sandbox}/matatika/api", "http://127.0.0.1:{port}")

    code, out, err = four.repo.run("plan", "--trusted-ref", "main")

    assert four.listener.connections == 0
    assert SECURITY_CANARY not in out + err
    assert four.leaks() == []
    assert (code, out) == (1, "")
    assert [line.split(": ", 2)[2] for line in err.splitlines()] == [
        "providers.campaigns.credentials.token: env:VONAGE_JWT is also used by provider type "
        "matatika; a credential goes to one provider type only",
        "providers.elt.credentials.token: env:VONAGE_JWT is also used by provider type vonage; "
        "a credential goes to one provider type only",
    ]


HOSTILE_HOSTS = {
    **{
        kind: Edit(instance, "base_url", "{sandbox}" + path, "https://attacker.example")
        for kind, (instance, path) in TYPE_PATHS.items()
    },
    "runner-auth_url": Edit(
        "ctl", "options.auth_url", "{sandbox}/runner", "http://attacker.example"
    ),
}


HOST_REFUSALS = {
    "base_url": "credentials go only to the provider's hosts or to --allow-host, not",
    "options.auth_url": "credentials go over plain http only to an allowed loopback host, not",
}


@pytest.mark.parametrize("edit", HOSTILE_HOSTS.values(), ids=HOSTILE_HOSTS.keys())
def test_a_host_not_allowed_is_refused_in_pull_request_mode_too(
    four: FourRepo, monkeypatch: pytest.MonkeyPatch, edit: Edit
) -> None:
    """As CI runs it, nothing but the trusted hosts allowed: the withheld instance's host is
    still refused, from its configuration alone, with one line naming it."""
    monkeypatch.setenv("RECONCILER_ALLOW_HOSTS", four.sandbox.removeprefix("http://"))
    four.propose(edit.instance, edit.key, edit.old, edit.new)

    code, out, err = four.repo.run("plan", "--trusted-ref", "main")

    assert four.listener.connections == 0
    assert SECURITY_CANARY not in out + err
    assert four.leaks() == []
    assert (code, out) == (1, "")
    [line] = err.splitlines()
    host = four.values(edit.new).split("://")[1]
    assert line.endswith(f"providers.{edit.instance}.{edit.key}: {HOST_REFUSALS[edit.key]} {host}")


# A withheld instance's credential references are never resolved: each reference below makes
# a read fail (a FIFO, bytes no header can carry, a link out of the credential directory, a
# value with a line break), so a read would refuse the plan; instead it completes.


def _fifo(directory: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    os.mkfifo(directory / "fifo")
    return "file:fifo"


def _not_utf8(directory: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (directory / "binary.key").write_bytes(b"\xff\xfe" + SECURITY_CANARY.encode())
    return "file:binary.key"


def _link_out(directory: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (directory / "link").symlink_to(directory.parents[1] / "home" / ".ssh" / "id_rsa")
    return "file:link"


def _control_value(directory: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("XPLENTY_OTHER_KEY", f"{SECURITY_CANARY}\n")
    return "env:XPLENTY_OTHER_KEY"


UNREADABLE = {
    "fifo": (_fifo, "file fifo is not a regular file"),
    "not-utf8": (_not_utf8, "file binary.key is not UTF-8 text"),
    "link-out": (_link_out, "file link is outside the credential directories"),
    "line-break": (_control_value, "$XPLENTY_OTHER_KEY holds a control character"),
}


@pytest.mark.parametrize(("make", "why"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_withheld_instances_references_are_never_read(
    four: FourRepo,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[Path, pytest.MonkeyPatch], str],
    why: str,
) -> None:
    reference = make(Path(os.environ["RECONCILER_CREDENTIAL_DIRS"]), monkeypatch)
    four.propose("etl", "credentials.api_key", "env:XPLENTY_API_KEY", reference)

    code, out, err = four.repo.run("plan", "--trusted-ref", "main")

    assert (code, err) == (0, ""), out
    assert "~ instance etl changed (not refreshed until merged)" in out
    assert f'credentials.api_key: "env:XPLENTY_API_KEY" -> "{reference}"' in out
    assert out.count(" + start ") == 3
    assert SECURITY_CANARY not in out

    # The control: the same reference on the base revision (trusted, so read) is refused.
    git(four.repo.root, "checkout", "-q", "main")
    git(four.repo.root, "merge", "-q", "--ff-only", "pull-request")
    code, out, err = four.repo.run("plan", "--trusted-ref", "main")
    assert (code, out) == (1, "")
    assert f"providers.etl.credentials.api_key: {why}" in err
    assert SECURITY_CANARY not in err
