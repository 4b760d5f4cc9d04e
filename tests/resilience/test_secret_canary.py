"""No secret ever leaves memory: distinctive credential values, every command (failures and
--debug included), and then no trace of them in any output, plan file, journal or lockfile."""

from __future__ import annotations

import json
import signal
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
