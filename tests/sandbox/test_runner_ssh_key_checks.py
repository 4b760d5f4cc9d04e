"""Issue 21: the Runner emulator checks a start's ``sshPrivateKey`` as seed 002 describes it
("SSH private key (base64 encoded)"), request-level and per host: base64 of a PEM private key
is accepted; anything else is refused with a 400 in the API's error format, and nothing starts."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.sandbox.server import BackgroundSandbox
from tests.sandbox.test_runner_emulator import JOB, client

PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
ENCODED = base64.b64encode(PEM.encode()).decode()
REFUSED = {"message": "sshPrivateKey must be a base64-encoded SSH private key"}

BAD_KEYS = {
    "raw PEM, not base64": PEM,
    "text that is not base64": "not a key, not base64!",
    "base64 of something that is not a key": base64.b64encode(b"hello, world\n").decode(),
    "base64 of a public key": base64.b64encode(b"ssh-ed25519 AAAAC3Nza user@host\n").decode(),
    "empty": "",
}


@pytest.fixture
def api(sandbox: BackgroundSandbox) -> Iterator[httpx.Client]:
    with client(sandbox) as c:
        yield c


def executions(api: httpx.Client) -> int:
    listed = api.get(f"/{JOB}/executions")
    assert listed.status_code == 200, listed.text
    return int(listed.json()["totalSize"])


def starts(api: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return api.post(f"/{JOB}/start", json=body)


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
@pytest.mark.parametrize("where", ["request", "host"])
def test_a_bad_key_is_refused_in_the_api_error_format(
    api: httpx.Client, where: str, key: str
) -> None:
    body: dict[str, Any] = {"hosts": [{"id": "web-01"}]}
    if where == "request":
        body["sshPrivateKey"] = key
    else:
        body["hosts"].append({"id": "web-02", "sshPrivateKey": key})
    answer = starts(api, body)
    assert (answer.status_code, answer.json()) == (400, REFUSED)
    assert answer.headers["content-type"] == "application/json"
    assert executions(api) == 0  # refused before anything started


@pytest.mark.parametrize(
    "body",
    [
        {"hosts": [{"id": "web-01", "sshPrivateKey": 42}]},
        {"hosts": [{"id": "web-01"}], "sshPrivateKey": 42},
    ],
    ids=["host", "request"],
)
def test_a_non_string_key_is_refused_as_a_key(api: httpx.Client, body: dict[str, Any]) -> None:
    answer = starts(api, body)
    assert (answer.status_code, answer.json()) == (400, REFUSED)
    assert executions(api) == 0


def test_base64_of_a_pem_key_is_accepted_at_both_levels(api: httpx.Client) -> None:
    body = {
        "sshPrivateKey": ENCODED,
        "hosts": [{"id": "web-01"}, {"id": "web-02", "sshPrivateKey": ENCODED}],
    }
    answer = starts(api, body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["execution_id"]
    assert executions(api) == 1
    # The answer never echoes a key back.
    assert ENCODED not in answer.text
    assert "PRIVATE KEY" not in answer.text
