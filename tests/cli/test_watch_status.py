"""`watch --listen`: health, readiness and Prometheus metrics of a real `watch` process on the
sandbox, scraped over HTTP and parsed with the Prometheus client's own parser; the webhook
that begins a cycle at once, for a sender holding the secret only."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cli.test_watch import next_cycle, start_watch, stop_watch
from tests.conftest import CONFIG, free_port, jobrun


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    text = httpx.get(f"{url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.timeout(120)
def test_watch_serves_health_readiness_and_metrics(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    for n in range(3):
        (tmp_path / "specs" / f"r{n}.yaml").write_text(jobrun(f"run-{n}", package=100 + n))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    watcher, lines = start_watch(
        tmp_path, {}, "--sandbox", "watch", "--interval", "0.5", "--listen", str(port)
    )
    try:
        next_cycle(lines, lambda c: c["cycle"] == 2)
        assert httpx.get(f"{url}/healthz").status_code == 200
        ready = httpx.get(f"{url}/readyz")
        assert (ready.status_code, ready.text) == (200, "ok\n")
        samples = scrape(url)
        assert samples[("reconciler_cycles_total", (("status", "ok"),))] >= 2
        assert samples[("reconciler_actions_total", (("kind", "start"), ("outcome", "done")))] == 3
        assert (
            samples[("reconciler_api_calls_total", (("instance", "etl"),))] >= 4
        )  # 2 lists, 3 starts
        assert samples[("reconciler_api_rate_limited_total", (("instance", "etl"),))] == 0
        assert samples[("reconciler_unconfirmed_intents", ())] == 0
        assert samples[("reconciler_cycle_duration_seconds_count", ())] >= 2
        assert samples[("reconciler_last_success_timestamp_seconds", ())] > time.time() - 60
        assert httpx.get(f"{url}/nowhere").status_code == 404

        (tmp_path / "reconciler.yaml").write_text(CONFIG + "prune: maybe\n")  # a bad cycle
        until(lambda: httpx.get(f"{url}/readyz").status_code == 503)
        assert httpx.get(f"{url}/readyz").text == "the last cycle ended in errors\n"
        assert httpx.get(f"{url}/healthz").status_code == 200  # live all the same
        assert scrape(url)[("reconciler_cycles_total", (("status", "error"),))] >= 1
        (tmp_path / "reconciler.yaml").write_text(CONFIG)
        until(lambda: httpx.get(f"{url}/readyz").status_code == 200)
    finally:
        stop_watch(watcher)


@contextlib.contextmanager
def socket_in_use() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def refused_watch(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`reconciler --sandbox watch ARGS` in a new repository, expected to refuse at once."""
    (root / "reconciler.yaml").write_text(CONFIG)
    (root / "specs").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "--sandbox", "watch", *args],
        cwd=root,
        env={**os.environ, "XPLENTY_API_KEY": "k", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_watch_refuses_a_bad_or_busy_listen_address(tmp_path: Path) -> None:
    bad = refused_watch(tmp_path, "--listen", "99999")
    assert bad.returncode == 1
    assert bad.stderr == (
        "Error: --listen 99999: expected [HOST:]PORT with a port from 1 to 65535\n"
    )
    with socket_in_use() as port:
        busy = refused_watch(tmp_path, "--listen", str(port))
    assert busy.returncode == 1
    assert busy.stderr.startswith(f"Error: --listen 127.0.0.1:{port}: cannot listen there ("), (
        busy.stderr
    )
    assert "Traceback" not in busy.stderr
    assert busy.stdout == ""  # no cycle ran


SECRET = "a-webhook-secret-of-32-characters"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


@pytest.mark.timeout(120)
def test_a_verified_webhook_begins_a_cycle_at_once(tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    (tmp_path / "specs").mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    watcher, lines = start_watch(
        tmp_path,
        {"RECONCILER_WEBHOOK_SECRET": SECRET},
        *("--sandbox", "watch", "--interval", "3600", "--listen", str(port)),
        *("--webhook-secret", "env:RECONCILER_WEBHOOK_SECRET"),
    )
    try:
        first = next_cycle(lines, lambda c: c["cycle"] == 1)
        assert first["trigger"] == "start"
        push = b'{"ref": "refs/heads/main"}'
        refused = [
            httpx.post(f"{url}/api/webhook", content=push),  # unsigned
            httpx.post(f"{url}/api/webhook", content=push, headers=signed(push, "x" * 32)),
            httpx.post(f"{url}/api/webhook", content=push, headers={"X-Gitlab-Token": "guess"}),
            httpx.post(f"{url}/api/webhook", content=b"{}", headers=signed(push)),  # another body
        ]
        assert [r.status_code for r in refused] == [401, 401, 401, 401]
        too_big = b"x" * ((1 << 20) + 1)
        assert httpx.post(f"{url}/api/webhook", content=too_big).status_code == 413
        assert lines.empty()  # none of them began a cycle

        answer = httpx.post(f"{url}/api/webhook", content=push, headers=signed(push))
        assert (answer.status_code, answer.text) == (202, "a cycle begins now\n")
        second = next_cycle(lines, lambda c: c["cycle"] == 2, timeout=20)
        assert second["trigger"] == "webhook"
        answer = httpx.post(f"{url}/api/webhook", content=push, headers={"X-Gitlab-Token": SECRET})
        assert answer.status_code == 202
        assert next_cycle(lines, lambda c: c["cycle"] == 3, timeout=20)["trigger"] == "webhook"
    finally:
        err = stop_watch(watcher)
    assert SECRET not in err


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--webhook-secret", "env:HOOK_SECRET"), "--webhook-secret needs --listen"),
        (
            ("--listen", "1", "--webhook-secret", SECRET),
            "--webhook-secret takes a reference, env:NAME or file:PATH, not the secret itself",
        ),
        (("--listen", "1", "--webhook-secret", "env:UNSET_SECRET"), "--webhook-secret env:UNSET"),
        (("--listen", "1", "--webhook-secret", "env:SHORT"), "shorter than 16 characters"),
    ],
    ids=["no-listen", "literal", "unset", "short"],
)
def test_a_bad_webhook_secret_is_refused_before_any_cycle(
    tmp_path: Path, args: tuple[str, ...], error: str
) -> None:
    done = refused_watch(tmp_path, *args, env={"SHORT": "short"})
    assert done.returncode == 1
    assert done.stderr.startswith("Error: "), done.stderr
    assert error in done.stderr
    assert (done.stdout, "Traceback" in done.stderr) == ("", False)
    assert "short\n" not in done.stderr  # the value itself is never shown
