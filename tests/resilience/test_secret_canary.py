"""No secret ever leaves memory: distinctive credential values, every command (failures and
--debug included), and then no trace of them in any output, plan file, journal or lockfile."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from reconciler.sandbox.matatika.oauth import issued_token
from tests.providers.test_vonage import application_key
from tests.resilience.world import World

CANARIES = {
    "XPLENTY_API_KEY": "canary-xplenty-7c1f9a",
    "CLC_USERNAME": "canary-user-2b8e",
    "CLC_PASSWORD": "canary-password-5d3a",
    # A well-formed JWT whose payload spells a canary: {"sub":"canary-jwt-91e4"}
    "VONAGE_JWT": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjYW5hcnktand0LTkxZTQifQ.canary-sig-91e4",
    "MATATIKA_TOKEN": "canary-matatika-0f6b",
}
# Pieces that must not appear either: the JWT's parts, and the payload decoded.
NEEDLES = [*CANARIES.values(), "canary-sig-91e4", "canary-jwt-91e4", "eyJzdWIiOiJjYW5hcnkt"]

SLOW = "faults:\n" + "".join(
    f"  {n}: {{latency: 0.05}}\n" for n in ("xplenty", "runner", "vonage", "matatika")
)


def scanned_texts(root: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Every file under ``root`` but the sandbox's database and the ``skip`` names."""
    files = [
        path
        for path in root.rglob("*")
        if path.is_file() and "sandbox.db" not in path.name and path.name not in skip
    ]
    assert {p.name for p in files} >= {"reconciler.lock", "reconciler.lock.lck"}
    return [p.read_text(errors="replace") for p in files]


def test_no_canary_in_any_output_or_file(tmp_path: Path) -> None:
    world = World(tmp_path, seed=SLOW, per_provider=2, credentials=CANARIES)
    outputs: list[str] = []

    def run(*args: str) -> None:
        done = world.run("--debug", *args)
        outputs.append(done.stdout + done.stderr)

    try:
        run("validate")
        run("plan", "-o", "saved.json")
        run("plan", "--format", "json")
        run("plan", "--format", "markdown")
        run("apply", "--auto-approve")
        run("show")
        world.bump("etl-0")
        run("apply", "saved.json")  # stale: refused
        run("force-unlock", "no-such-lock")  # refused
        run("schema", "--dir", str(tmp_path / "schemas"))
        # An apply killed after its journal appears leaves that journal on disk.
        for name in sorted(world.specs):
            world.bump(name)
        apply = world.start("--debug", "apply", "--auto-approve", stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not world.journal.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)
        apply.send_signal(signal.SIGKILL)
        outputs.append(apply.communicate(timeout=10)[0])
        assert world.journal.exists()
        journal_text = world.journal.read_text()
        run("plan")  # folds the journal in memory
        run("apply", "--auto-approve")  # replays it
    finally:
        world.close()

    # Refused credentials: the providers' errors must not echo them either.
    wrong = World(
        tmp_path / "wrong",
        seed="vonage: {tokens: [other.jwt.x]}\nmatatika: {tokens: [other]}\n"
        "runner: {users: {someone: {password: x, account_alias: ACME}}}\n"
        "xplenty: {accounts: {acme: {api_keys: [other]}}}\n",
        per_provider=1,
        credentials=CANARIES,
    )
    try:
        done = wrong.run("--debug", "apply", "--auto-approve")
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 1
    finally:
        wrong.close()

    assert (tmp_path / "repo" / "saved.json").is_file()
    texts = [*outputs, journal_text, *scanned_texts(tmp_path)]
    assert "Traceback" in "".join(outputs)  # --debug shows them: they must carry no secret
    for text in texts:
        for needle in NEEDLES:
            assert needle not in text


def test_no_private_key_client_secret_or_minted_token_in_any_output_or_file(
    tmp_path: Path,
) -> None:
    """The other credential sets: a Vonage application key (reconciler signs its JWTs) and a
    Matatika client secret (exchanged for a token); neither they nor what they mint leak."""
    private_pem, public_pem = application_key()
    secret = "canary-client-secret-3e7d"
    body = [line for line in private_pem.splitlines() if not line.startswith("-----")]
    needles = [
        secret,
        issued_token("reconciler-ci", secret),  # the token the grant hands out
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",  # the header of every JWT reconciler signs
        *body,
    ]
    seed = (
        f"vonage:\n  applications: {{app-1: {json.dumps(public_pem)}}}\n"
        f"matatika:\n  clients: {{reconciler-ci: {secret}}}\n"
    )
    environ = {"VONAGE_APPLICATION_ID": "app-1", "MATATIKA_CLIENT_ID": "reconciler-ci"}
    outputs: list[str] = []
    for case, client_secret in (("right", secret), ("wrong", secret + "-x")):
        world = World(
            tmp_path / case,
            seed=seed,
            per_provider=1,
            credentials={**environ, "MATATIKA_CLIENT_SECRET": client_secret},
        )
        try:
            config = world.repo / "reconciler.yaml"
            text = config.read_text()
            for old, new in (
                (
                    "token: env:VONAGE_JWT",
                    "application_id: env:VONAGE_APPLICATION_ID\n      private_key: file:vonage.key",
                ),
                (
                    "token: env:MATATIKA_TOKEN",
                    "client_id: env:MATATIKA_CLIENT_ID\n"
                    "      client_secret: env:MATATIKA_CLIENT_SECRET\n"
                    f"    options: {{auth_url: {world.url}/matatika/api/oauth/token}}",
                ),
            ):
                assert old in text
                text = text.replace(old, new)
            config.write_text(text)
            (world.credentials / "vonage.key").write_text(
                private_pem if case == "right" else application_key()[0]
            )
            for args in (
                ("validate",),
                ("plan", "-o", "saved.json"),
                ("plan", "--format", "json"),
                ("apply", "--auto-approve"),
                ("show",),
            ):
                done = world.run("--debug", *args)
                outputs.append(done.stdout + done.stderr)
                if case == "right":
                    assert done.returncode == 0, outputs[-1]
            if case == "wrong":  # both refused by the sandbox: the errors name no secret
                assert "campaigns (vonage)" in outputs[-2]
                assert "elt (matatika)" in outputs[-2]
        finally:
            world.close()
    assert "Traceback" in "".join(outputs)  # the refused ones, under --debug
    for text in [*outputs, *scanned_texts(tmp_path, skip=("vonage.key", "seed.yaml"))]:
        for needle in needles:
            assert needle not in text


def test_no_ssh_key_in_any_output_file_or_git_history(tmp_path: Path) -> None:
    """Runner SSH keys (issue 21), for the request and per host: specs name them by reference;
    the keys reach the Runner API base64-encoded and nothing else, git history included."""
    request_key = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\ncanary-ssh-request-4a7c\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    )
    host_key = (
        "-----BEGIN RSA PRIVATE KEY-----\ncanary-ssh-host-8d2e\n-----END RSA PRIVATE KEY-----\n"
    )
    encoded = [base64.b64encode(k.encode()).decode() for k in (request_key, host_key)]
    # The bodies, and stretches of their base64 forms (at each alignment the key's text makes).
    needles = ["canary-ssh-request-4a7c", "canary-ssh-host-8d2e"]
    needles += [e[i : i + 24] for e in encoded for i in (36, 40, 44)]
    world = World(tmp_path, seed=SLOW, per_provider=1, credentials={"CTL_SSH_KEY": request_key})
    outputs: list[str] = []
    try:
        (world.credentials / "web-02.key").write_text(host_key)
        spec = (
            "apiVersion: reconciler/v1\nkind: JobRun\nmetadata: {name: ctl-0}\nspec:\n"
            "  provider: ctl\n  job:\n    job_id: job-1000\n"
            "    ssh_private_key: env:CTL_SSH_KEY\n"
            "    hosts: [{id: web-01}, {id: web-02, ssh_private_key: file:web-02.key}]\n"
        )
        (world.repo / "specs" / "ctl-0.yaml").write_text(spec)
        git_setup: list[tuple[str, ...]] = [
            ("init", "-q"),
            ("config", "user.email", "ci@example.com"),
            ("config", "user.name", "CI"),
            ("add", "-A"),
            ("commit", "-qm", "specs"),
        ]
        for git_args in git_setup:
            subprocess.run(["git", "-C", str(world.repo), *git_args], check=True)
        for args in (
            ("validate",),
            ("plan", "-o", "saved.json"),
            ("plan", "--format", "json"),
            ("plan", "--format", "markdown"),
            ("apply", "--auto-approve", "--commit"),
            ("show",),
            ("show", "ctl-0"),
            ("journal", "show"),
        ):
            done = world.run("--debug", *args)
            outputs.append(done.stdout + done.stderr)
        assert "Apply complete: 4 started" in outputs[4], outputs[4]
        # Both keys reached the emulator, which decoded them (it keeps digests only).
        received = sqlite3.connect(world.db).execute("SELECT digest FROM runner_ssh_keys")
        assert {row[0] for row in received} == {
            hashlib.sha256(k.encode()).hexdigest() for k in (request_key, host_key)
        }
        # A key rotated behind its reference is no change; an apply killed mid-way leaves a
        # journal, which holds references only.
        (world.credentials / "web-02.key").write_text(host_key.replace("host", "next"))
        assert world.run("plan", "--detailed-exitcode").returncode == 0
        world.advance(600)  # the run has ended: a new revision starts at once
        (world.repo / "specs" / "ctl-0.yaml").write_text(spec + "  rerun: 1\n")
        apply = world.start("--debug", "apply", "--auto-approve", stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            world.journal.exists() and world.journal.stat().st_size
        ):
            time.sleep(0.005)
        apply.send_signal(signal.SIGKILL)
        outputs.append(apply.communicate(timeout=10)[0])
        journal = world.journal.read_text()
        assert "file:web-02.key" in journal, journal
        history = subprocess.run(
            ["git", "-C", str(world.repo), "log", "-p", "--all"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        database = world.db.read_bytes().decode("latin-1")
    finally:
        world.close()
    assert "reconciler.lock" in history
    texts = [*outputs, journal, history, database, *scanned_texts(tmp_path, skip=("web-02.key",))]
    for text in texts:
        for needle in needles:
            assert needle not in text
