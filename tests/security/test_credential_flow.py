"""A pull request edits only reconciler.yaml: no credential, no readable file leaves for a
host or a provider it chooses. Each hostile edit runs ``plan`` through the real CLI, without
--sandbox, with canary credentials, against a loopback listener that records every byte."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from reconciler.app.planning import plan_command
from reconciler.app.workspace import Environment, open_workspace
from reconciler.cli import main
from reconciler.sandbox.server import BackgroundSandbox
from tests.conftest import jobrun

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


class Listener:
    """A loopback TCP server that records every connection and byte, and answers each
    request with ``answer`` (a redirect, in one test)."""

    def __init__(self, answer: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]") -> None:
        self.answer = answer
        self.connections = 0
        self.received = b""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    self.received += conn.recv(65536)
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


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


@pytest.fixture
def repo(tmp_path: Path, credentials_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "a.yaml").write_text(jobrun("a"))
    (root / "reconciler.yaml").write_text(CONFIG)
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


HOSTILE_URLS = {
    "https": "https://127.0.0.1:{port}",
    "http": "http://127.0.0.1:{port}",
    "localhost": "https://localhost:{port}",
    "user-info": "https://api.xplenty.com@127.0.0.1:{port}",
}


@pytest.mark.parametrize("url", HOSTILE_URLS.values(), ids=HOSTILE_URLS.keys())
def test_base_url_to_another_host_is_refused(plan: Run, listener: Listener, url: str) -> None:
    target = url.format(port=listener.port)
    code, output = plan("base_url: https://api.xplenty.com", f"base_url: {target}")
    assert_refused(code, output, listener, "providers.etl.base_url: credentials go")


def test_production_host_on_another_port_is_refused(plan: Run, listener: Listener) -> None:
    code, output = plan("https://api.xplenty.com", "https://api.xplenty.com:8443")
    assert_refused(code, output, listener, "providers.etl.base_url", "api.xplenty.com:8443")


@pytest.mark.parametrize(
    ("instance", "anchor"), [("ctl", "account: ACME"), ("elt", "token: env:MATATIKA_TOKEN}")]
)
def test_auth_url_alone_to_another_host_is_refused(
    plan: Run, listener: Listener, instance: str, anchor: str
) -> None:
    """The Runner login (username, password) and the Matatika grant (client secret)."""
    option = f"\n    options: {{auth_url: 'http://127.0.0.1:{listener.port}/x'}}"
    code, output = plan(anchor, anchor + option)
    assert_refused(
        code,
        output,
        listener,
        f"providers.{instance}.options.auth_url",
        f"127.0.0.1:{listener.port}",
    )


def test_every_refusal_is_reported_at_once(plan: Run, listener: Listener) -> None:
    url = f"https://127.0.0.1:{listener.port}"
    code, output = plan("https://app.matatika.com/api", url)
    assert_refused(code, output, listener, "providers.elt.base_url")
    code, output = plan("https://api.runner.ctl.io", url)
    assert_refused(code, output, listener, "providers.elt.base_url", "providers.ctl.base_url")
    assert output.count("Error: ") == 2


FILE_REFERENCES = {
    "home": ("file:~/.ssh/id_rsa", "is outside the credential directories"),
    "dot-dot": ("file:../home/.ssh/id_rsa", "is outside the credential directories"),
    "absolute": ("file:/dev/zero", "is outside the credential directories"),
    "in-repository": ("file:{repo}/specs/a.yaml", "inside the repository"),
}


@pytest.mark.parametrize(("reference", "why"), FILE_REFERENCES.values(), ids=FILE_REFERENCES.keys())
def test_file_reference_outside_the_credential_directories_is_refused(
    plan: Run, listener: Listener, repo: Path, reference: str, why: str
) -> None:
    reference = reference.format(repo=repo)
    code, output = plan("env:XPLENTY_API_KEY", reference)
    assert_refused(code, output, listener, "providers.etl.credentials.api_key", why)
    code, output = plan(reference, reference, "--sandbox")  # hostile input, sandbox or not
    assert_refused(code, output, listener, "providers.etl.credentials.api_key", why)


def make_fifo(directory: Path) -> str:
    os.mkfifo(directory / "fifo")
    return "fifo"


def make_directory(directory: Path) -> str:
    (directory / "sub").mkdir()
    return "sub"


def make_large(directory: Path) -> str:
    (directory / "large").write_text(CANARY * 1000)  # 13 KB
    (directory / "large").write_bytes((directory / "large").read_bytes()[:5120])
    return "large"


def make_symlink_out(directory: Path) -> str:
    (directory / "link").symlink_to(directory.parent / "home" / ".ssh" / "id_rsa")
    return "link"


def make_device_link(directory: Path) -> str:
    (directory / "zero").symlink_to("/dev/zero")
    return "zero"


BAD_FILES = {
    "fifo": (make_fifo, "is not a regular file"),
    "directory": (make_directory, "is not a regular file"),
    "5-KiB": (make_large, "is larger than 4096 bytes"),
    "symlink-out": (make_symlink_out, "is outside the credential directories"),
    "dev-zero-link": (make_device_link, "is outside the credential directories"),
}


@pytest.mark.parametrize(("make", "why"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_file_in_the_credential_directory_must_be_a_small_regular_file(
    plan: Run, listener: Listener, credentials_dir: Path, make: Callable[[Path], str], why: str
) -> None:
    name = make(credentials_dir)
    code, output = plan("env:XPLENTY_API_KEY", f"file:{name}")
    assert_refused(
        code, output, listener, "providers.etl.credentials.api_key", f"file {name} {why}"
    )


@pytest.mark.parametrize(
    "name", ["GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "CI_JOB_TOKEN", "RECONCILER_ALLOW_HOSTS"]
)
def test_ci_and_reconciler_variables_are_refused(
    plan: Run, listener: Listener, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, f"{CANARY}-ci")
    code, output = plan("env:XPLENTY_API_KEY", f"env:{name}", "--sandbox")
    assert_refused(code, output, listener, "providers.etl.credentials.api_key", f"${name} belongs")


def test_one_providers_secret_is_not_sent_to_another(plan: Run, listener: Listener) -> None:
    code, output = plan("token: env:MATATIKA_TOKEN", "token: env:VONAGE_JWT")
    assert_refused(
        code,
        output,
        listener,
        "providers.elt.credentials.token: env:VONAGE_JWT is also used by provider type vonage",
        "providers.campaigns.credentials.token: env:VONAGE_JWT is also used by provider type "
        "matatika",
    )


def test_no_redirect_is_followed(plan: Run, listener: Listener) -> None:
    """A 30x from an allowed host cannot carry the credential elsewhere."""
    elsewhere = listener
    redirecting = Listener(
        f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{elsewhere.port}/\r\n"
        "Content-Length: 0\r\n\r\n".encode()
    )
    try:
        url = f"http://127.0.0.1:{redirecting.port}"
        allow = f"127.0.0.1:{redirecting.port}"
        code, output = plan("https://api.xplenty.com", url, "--allow-host", allow)
    finally:
        redirecting.close()
    assert redirecting.connections >= 1  # it was asked, with the key
    assert_refused(code, output, elsewhere, "refresh of etl failed")


def test_production_host_receives_the_credential(repo: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    config = repo / "reconciler.yaml"
    config.write_text(CONFIG.split("  ctl:")[0] + "specs: [specs]\n")
    env = Environment(environ=dict(os.environ), transport=httpx.MockTransport(handler))
    plan_command(open_workspace(config), env)
    assert {r.url.host for r in seen} == {"api.xplenty.com"}
    assert all(r.headers["authorization"].startswith("Basic ") for r in seen)


def test_allowed_loopback_host_works_end_to_end(
    plan: Run, repo: Path, credentials_dir: Path
) -> None:
    with BackgroundSandbox() as sandbox:
        port = sandbox.url.rsplit(":", 1)[1]
        (repo / "reconciler.yaml").write_text(CONFIG.split("  ctl:")[0] + "specs: [specs]\n")
        url = f"{sandbox.url}/xplenty"
        code, output = plan(
            "https://api.xplenty.com", url, "--allow-host", f"localhost:1,127.0.0.1:{port}"
        )
        assert (code, output.splitlines()[-1]) == (  # one host per option: a comma is no list
            1,
            f"Error: --allow-host / $RECONCILER_ALLOW_HOSTS: not HOST or HOST:PORT: "
            f"localhost:1,127.0.0.1:{port}",
        )
        code, output = plan(url, url, "--allow-host", f"127.0.0.1:{port}")
    assert (code, output.splitlines()[-1]) == (0, "Plan: 1 to start.")


def test_allowed_hosts_from_the_environment(
    plan: Run, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with BackgroundSandbox() as sandbox:
        port = sandbox.url.rsplit(":", 1)[1]
        (repo / "reconciler.yaml").write_text(CONFIG.split("  ctl:")[0] + "specs: [specs]\n")
        monkeypatch.setenv("RECONCILER_ALLOW_HOSTS", f"example.org, 127.0.0.1:{port}")
        code, output = plan("https://api.xplenty.com", f"{sandbox.url}/xplenty")
    assert (code, output.splitlines()[-1]) == (0, "Plan: 1 to start.")
