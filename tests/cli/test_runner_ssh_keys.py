"""Issue 21: Runner SSH keys, for the request and per host, as credential references: sent
base64-encoded (seed 002) and accepted by the emulator; the revision follows the reference,
not the key; a reference the credential rules refuse stops the apply before anything starts."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from tests.conftest import Repo

CONFIG = """\
apiVersion: reconciler/v1
kind: Config
providers:
  ctl:
    type: runner
    base_url: https://api.runner.ctl.io
    account: ACME
    credentials:
      username: env:CLC_USERNAME
      password: env:CLC_PASSWORD
"""

REQUEST_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nrequest-key-body\n-----END OPENSSH PRIVATE KEY-----\n"
)
HOST_KEY = "-----BEGIN RSA PRIVATE KEY-----\nweb-02-key-body\n-----END RSA PRIVATE KEY-----\n"


def spec(request_key: str = "env:CTL_SSH_KEY", host_key: str = "file:web-02.key") -> str:
    return (
        "apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {name: deploy}\nspec:\n"
        "  provider: ctl\n  job:\n    job_id: job-1\n"
        f"    ssh_private_key: {request_key}\n"
        f"    hosts: [{{id: web-01}}, {{id: web-02, ssh_private_key: {host_key}}}]\n"
    )


@pytest.fixture
def keyed(
    repo: Repo, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Repo:
    credentials = tmp_path_factory.mktemp("credentials")  # outside the repository
    (credentials / "web-02.key").write_text(HOST_KEY)
    monkeypatch.setenv("RECONCILER_CREDENTIAL_DIRS", str(credentials))
    monkeypatch.setenv("CTL_SSH_KEY", REQUEST_KEY)
    (repo.root / "reconciler.yaml").write_text(CONFIG)
    repo.spec("deploy.yaml", spec())
    return repo


def received_keys(repo: Repo) -> list[tuple[str | None, str]]:
    store = repo.sandbox_store()
    try:
        rows = store.query("SELECT host, digest FROM runner_ssh_keys ORDER BY host")
        return [(row["host"], row["digest"]) for row in rows]
    finally:
        store.close()


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_per_host_and_request_keys_reach_the_emulator_base64_encoded(keyed: Repo) -> None:
    code, out, err = keyed.run("--sandbox", "apply", "--auto-approve")
    assert (code, err) == (0, ""), out
    # The emulator decoded each sshPrivateKey as base64 into a private key (else 400).
    assert received_keys(keyed) == [(None, digest(REQUEST_KEY)), ("web-02", digest(HOST_KEY))]
    lock = (keyed.root / "reconciler.lock").read_text()
    job = json.loads(lock)["runs"]["deploy"]["job"]
    assert job["ssh_private_key"] == "env:CTL_SSH_KEY"  # the reference, never the key
    for text in (out, lock):
        for needle in ("key-body", base64.b64encode(REQUEST_KEY.encode()).decode()[8:40]):
            assert needle not in text


def test_the_revision_follows_the_reference_not_the_key(
    keyed: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert keyed.run("--sandbox", "apply", "--auto-approve")[0] == 0
    monkeypatch.setenv("CTL_SSH_KEY", REQUEST_KEY.replace("request", "rotated"))
    assert keyed.run("--sandbox", "plan", "--detailed-exitcode")[0] == 0  # rotation: no change
    monkeypatch.setenv("OTHER_SSH_KEY", REQUEST_KEY)
    keyed.spec("deploy.yaml", spec(request_key="env:OTHER_SSH_KEY"))
    code, out, _ = keyed.run("--sandbox", "plan", "--detailed-exitcode")
    assert code == 2
    assert 'job.ssh_private_key: "env:CTL_SSH_KEY" -> "env:OTHER_SSH_KEY"\n' in out


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        (
            "env:RUNNER_TEMP",
            "$RUNNER_TEMP belongs to the CI platform or reconciler, not a provider",
        ),
        (
            "env:CLC_PASSWORD",
            "env:CLC_PASSWORD is a provider credential in reconciler.yaml (of runner); a job's "
            "secret is a reference of its own",
        ),
        (
            "file:{root}/specs/deploy.yaml",
            "file {root}/specs/deploy.yaml is inside the repository (secrets stay out of git)",
        ),
    ],
)
def test_a_refused_reference_stops_the_apply_before_any_start(
    keyed: Repo, monkeypatch: pytest.MonkeyPatch, reference: str, why: str
) -> None:
    """One line, in words: what cannot be used and why, never a Python class name."""
    monkeypatch.setenv("RUNNER_TEMP", REQUEST_KEY)
    keyed.spec("deploy.yaml", spec(host_key=reference.format(root=keyed.root)))
    code, out, err = keyed.run("--sandbox", "apply", "--auto-approve")
    assert code == 1
    assert err.splitlines() == [
        "Error: start deploy: its start request cannot be built: a job secret cannot be used: "
        f"{why.format(root=keyed.root)}; nothing was done"
    ]
    assert "key-body" not in out + err
    assert received_keys(keyed) == []
