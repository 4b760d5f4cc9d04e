"""No secret ever leaves memory: distinctive credential values, every command (failures and
--debug included), and then no trace of them in any output, plan file, journal or lockfile."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

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
        apply = subprocess.Popen(
            world.command("--debug", "apply", "--auto-approve"),
            env=world.env,
            cwd=world.repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
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

    files = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file()
        and path.suffix not in (".db", ".db-wal", ".db-shm")
        and "sandbox.db" not in path.name
    ]
    assert {p.name for p in files} >= {"saved.json", "reconciler.lock", "reconciler.lock.lck"}
    texts = [*outputs, journal_text, *(p.read_text(errors="replace") for p in files)]
    assert "Traceback" in "".join(outputs)  # --debug shows them: they must carry no secret
    for text in texts:
        for needle in NEEDLES:
            assert needle not in text
