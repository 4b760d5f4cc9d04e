"""`reconciler sandbox serve` as a user starts it: a separate process on a port."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from reconciler.sandbox.emulators import NAMES
from tests.conftest import free_port, wait_for_sandbox


def test_sandbox_serve_with_seed_and_state(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "xplenty:\n"
        "  accounts:\n"
        "    acme:\n"
        "      api_keys: [demo-key]\n"
        "      clusters: [{id: 1, name: c}]\n"
        "      packages: [{id: 2, name: p}]\n"
        "  runs: {default: {running: 5s, outcome: failed}}\n"
    )
    port = free_port()
    command = [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--seed", str(seed), "--state", str(tmp_path / "s.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_sandbox(base, server)
        jobs = f"{base}/xplenty/acme/api/jobs"
        assert httpx.get(jobs, auth=("wrong", "")).status_code == 401
        created = httpx.post(jobs, auth=("demo-key", ""), json={"cluster_id": 1, "package_id": 2})
        assert created.status_code == 201
        httpx.post(f"{base}/_sandbox/clock", json={"advance": 60})
        assert httpx.get(f"{jobs}/1", auth=("demo-key", "")).json()["status"] == "failed"
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()
    assert f"reconciler sandbox on http://127.0.0.1:{port}" in output


def test_a_port_that_cannot_be_listened_on_is_one_line_before_the_banner() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        for args, reason in [
            (["--port", str(port)], f"cannot listen on 127.0.0.1:{port}: Address already in use"),
            (["--port", "99999"], "Invalid value for '--port': 99999 is not in the range"),
        ]:
            done = subprocess.run(
                [sys.executable, "-m", "reconciler", "sandbox", "serve", *args],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 1
            assert done.stdout == ""  # no banner
            assert reason in done.stderr
            assert "Traceback" not in done.stderr


def test_faults_from_the_command_line(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--fault", "xplenty.server_errors=1", "--fault", "xplenty.retry_after=2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_sandbox(base, server)
        answer = httpx.get(f"{base}/xplenty/acme/api/jobs", auth=("k", ""))
        assert answer.status_code >= 500
        counted = httpx.get(f"{base}/_sandbox/faults").json()
        assert counted["xplenty"]["server_errors"] >= 1
    finally:
        server.terminate()
        server.communicate(timeout=10)
    bad = subprocess.run(
        [*command, "--fault", "xplenty.server_errors", "--fault", "nowhere.drops=0.1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == ""
    assert sorted(bad.stderr.splitlines()) == [
        f"Error: --fault: nowhere.drops=0.1: unknown provider; one of {', '.join(NAMES)}",
        "Error: --fault: xplenty.server_errors: expected PROVIDER.KEY=VALUE",
    ]
