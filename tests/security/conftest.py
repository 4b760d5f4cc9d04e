"""Fixtures of the security tests: a repository whose configuration a pull request edits,
canary credentials, and a loopback listener that records every byte sent to it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.conftest import Listener, jobrun

CANARY = "canary-5b9e1d"
ENV = {
    "XPLENTY_API_KEY": f"{CANARY}-xplenty",
    "CLC_USERNAME": f"{CANARY}-user",
    "CLC_PASSWORD": f"{CANARY}-password",
    "VONAGE_JWT": f"{CANARY}-vonage",
    "MATATIKA_TOKEN": f"{CANARY}-matatika",
    "GITHUB_TOKEN": f"{CANARY}-github",
}
CONFIG = """\
apiVersion: reconciler/v1
kind: Config
providers:
  etl:
    type: xplenty
    base_url: https://api.xplenty.com
    account: acme
    credentials: {api_key: env:XPLENTY_API_KEY}
  ctl:
    type: runner
    base_url: https://api.runner.ctl.io
    account: ACME
    credentials: {username: env:CLC_USERNAME, password: env:CLC_PASSWORD}
  campaigns:
    type: vonage
    base_url: https://api-eu.dev.v1.vonagenetworks.net/beta
    credentials: {token: env:VONAGE_JWT}
  elt:
    type: matatika
    base_url: https://app.matatika.com/api
    credentials: {token: env:MATATIKA_TOKEN}
specs: [specs]
"""


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def credentials_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "canary.key").write_text(f"{CANARY}-file\n")
    return directory


def git(root: Path, *args: str) -> str:
    """``git -C root ARGS`` as a fixed author, unsigned."""
    identity = (
        "-c",
        "user.name=Dev",
        "-c",
        "user.email=dev@example.com",
        "-c",
        "commit.gpgsign=false",
    )
    done = subprocess.run(
        ["git", *identity, "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, credentials_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository (as CI checks it out): the config and a spec committed on main."""
    root = tmp_path / "repo"
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "a.yaml").write_text(jobrun("a"))
    (root / "reconciler.yaml").write_text(CONFIG)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(f"{CANARY}-ssh\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RECONCILER_CREDENTIAL_DIRS", str(credentials_dir))
    monkeypatch.delenv("RECONCILER_ALLOW_HOSTS", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return root


Run = Callable[..., tuple[int, str]]


@pytest.fixture
def plan(repo: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """``reconciler [global options] plan`` after replacing ``old`` by ``new`` in the config."""

    def run(old: str, new: str, *options: str) -> tuple[int, str]:
        config = repo / "reconciler.yaml"
        assert old in config.read_text()
        config.write_text(config.read_text().replace(old, new))
        capsys.readouterr()
        code = main(["--config", str(config), *options, "plan"])
        out, err = capsys.readouterr()
        return code, out + err

    return run


def assert_refused(code: int, output: str, listener: Listener, *named: str) -> None:
    assert code == 1, output
    assert CANARY not in output
    assert listener.connections == 0
    assert listener.received == b""
    assert "Traceback" not in output
    for text in named:
        assert text in output, output
