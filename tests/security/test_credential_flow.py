"""A pull request edits only reconciler.yaml: no credential, no readable file leaves for a
host or a provider it chooses. Each hostile edit runs ``plan`` through the real CLI, without
--sandbox, with canary credentials, against a loopback listener that records every byte."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from reconciler.app.planning import plan_command
from reconciler.app.workspace import Environment, open_workspace
from reconciler.sandbox.server import BackgroundSandbox
from tests.conftest import Listener
from tests.security.conftest import CANARY, CONFIG, Run, assert_refused

HOSTILE_URLS = {
    "https": "https://127.0.0.1:{port}",
    "http": "http://127.0.0.1:{port}",
    "localhost": "https://localhost:{port}",
}


@pytest.mark.parametrize("url", HOSTILE_URLS.values(), ids=HOSTILE_URLS.keys())
def test_base_url_to_another_host_is_refused(plan: Run, listener: Listener, url: str) -> None:
    target = url.format(port=listener.port)
    code, output = plan("base_url: https://api.xplenty.com", f"base_url: {target}")
    assert_refused(code, output, listener, "providers.etl.base_url: credentials go")


def test_user_info_in_a_url_is_refused_at_load(plan: Run, listener: Listener) -> None:
    """``https://api.xplenty.com@127.0.0.1`` goes to 127.0.0.1; and what precedes an '@'
    may be a password: never echoed."""
    url = f"https://api.xplenty.com:{CANARY}@127.0.0.1:{listener.port}"
    for options in ((), ("--sandbox",)):
        code, output = plan("https://api.xplenty.com", url, *options)
        url = "https://api.xplenty.com"  # the config holds the URL already
        assert_refused(code, output, listener, "providers.etl.base_url: holds a user name")


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
