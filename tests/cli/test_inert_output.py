"""Hostile strings through the real CLI: a provider answering with a crafted error message (a
small HTTP server at the outer boundary, beside the real sandbox) and crafted job values, shown
as markdown, text, JSON, commit messages, --debug logs and watch lines — all inert."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reconciler.sandbox.server import BackgroundSandbox
from tests.conftest import Repo, jobrun

# One message trying every medium: markdown (code span, details, HTML, mention, issue, link,
# table), terminals (CSI, OSC 8 hyperlink, C1 CSI, bidi, BEL, CR) and commit trailers.
HOSTILE = (
    "`x` </details><img src=x onerror=alert(1)> @org/team #12 [a](http://e) | "
    "\x1b[2J\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\ \x9b31m \u202eevil\x07\r"
    "\n\nCo-authored-by: x <y@z>"
)
AS_TEXT = (
    "`x` </details><img src=x onerror=alert(1)> @org/team #12 [a](http://e) | "
    "\\x1b[2J\\x1b]8;;http://e\\x1b\\link\\x1b]8;;\\x1b\\ \\x9b31m \\u202eevil\\x07\\r"
    "\\n\\nCo-authored-by: x <y@z>"
)
AS_MARKDOWN = (
    "\\`x\\` \\</details\\>\\<img src=x onerror=alert(1)\\> @&#8203;org/team #&#8203;12 "
    "\\[a\\](http://e) \\| \\\\x1b\\[2J\\\\x1b\\]8;;http://e\\\\x1b\\\\link"
    "\\\\x1b\\]8;;\\\\x1b\\\\ "
    "\\\\x9b31m \\\\u202eevil\\\\x07\\\\r\\\\n\\\\nCo-authored-by: x \\<y@&#8203;z\\>"
)
# Header values the hostile server sends: none may reach a --debug log.
SECRET = "canary-cookie-3f9d"
# What a terminal would act on: C0 but newline, DEL, C1, bidi controls.
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

CONFIG = """\
apiVersion: reconciler/v1
kind: Config
providers:
  etl:
    type: xplenty
    base_url: {sandbox}/xplenty
    account: acme
    credentials:
      api_key: env:XPLENTY_API_KEY
  bad:
    type: xplenty
    base_url: {hostile}
    account: acme
    credentials:
      api_key: env:XPLENTY_API_KEY
specs: [specs]
"""


class _HostileProvider(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = json.dumps({"message": HOSTILE}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", f"session={SECRET}")
        self.send_header("X-Auth-Token", SECRET)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hostile_provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def world(
    repo: Repo,
    sandbox: BackgroundSandbox,
    hostile_provider: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Repo:
    """``good`` on the sandbox, ``other`` on the hostile provider (both allowed hosts)."""
    hosts = [url.removeprefix("http://") for url in (sandbox.url, hostile_provider)]
    monkeypatch.setenv("RECONCILER_ALLOW_HOSTS", ",".join(hosts))
    config = CONFIG.format(sandbox=sandbox.url, hostile=hostile_provider)
    (repo.root / "reconciler.yaml").write_text(config)
    repo.spec("good.yaml", jobrun("good"))
    repo.spec("other.yaml", jobrun("other").replace("provider: etl", "provider: bad"))
    return repo


def git(repo: Repo, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo.root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_a_providers_message_is_inert_in_markdown_text_json_and_error_lines(world: Repo) -> None:
    refused = f"bad (xplenty): {AS_TEXT} (HTTP 400)"
    error = f"Error: refresh of bad failed, 1 spec(s) left as they are: {refused}\n"

    code, out, err = world.run("plan", "--format", "markdown")
    assert (code, err) == (1, error)
    assert f"- bad: 1 spec(s) (other): bad (xplenty): {AS_MARKDOWN} (HTTP 400)\n" in out
    assert out.count("</details>") == 0  # nothing quiet to fold, and nothing injected

    code, out, err = world.run("plan")
    assert (code, err) == (1, error)
    assert f"    ! not refreshed bad: 1 spec(s) (other): {refused}\n" in out

    code, out, err = world.run("plan", "--format", "json")
    assert (code, err) == (1, error)
    assert not RAW_CONTROL.search(out)
    reasons = {a["name"]: a["reason"] for a in json.loads(out)["actions"]}
    assert reasons["other"] == f"bad (xplenty): {HOSTILE} (HTTP 400)"  # the value, as it was


def test_job_values_are_inert_in_the_plan_of_a_change(repo: Repo) -> None:
    repo.spec("a.yaml", jobrun("a", variables="{START: \"'a'\"}"))
    assert repo.run("--sandbox", "apply", "--auto-approve")[0] == 0
    # YAML escapes: ESC, C1 CSI, a bidi override, a newline; and markdown's own syntax.
    hostile = r"\e[2J\x9b1m\u202e`</details>`|@org\n#1"
    repo.spec("a.yaml", jobrun("a", variables=f'{{START: "{hostile}"}}'))

    code, out, _ = repo.run("--sandbox", "plan")
    assert code == 0
    assert (
        'job.variables.START: "\'a\'" -> "\\u001b[2J\\x9b1m\\u202e`</details>`|@org\\n#1"\n' in out
    )

    code, out, _ = repo.run("--sandbox", "plan", "--format", "markdown")
    assert code == 0
    assert (
        "| `` job.variables.START: \"'a'\" -> "
        '"\\u001b[2J\\x9b1m\\u202e`</details>`\\|@org\\n#1" `` |\n' in out
    )


def test_commit_message_of_an_apply_keeps_a_providers_message_to_one_line(world: Repo) -> None:
    git(world, "init", "-q")
    git(world, "config", "user.email", "dev@example.com")
    git(world, "config", "user.name", "Dev")
    git(world, "add", "-A")
    git(world, "commit", "-qm", "specs")

    code, _, _ = world.run("apply", "--auto-approve", "--commit")
    assert code == 1  # the refresh of bad failed; good's start is committed all the same
    message = git(world, "log", "-1", "--format=%B").rstrip("\n")
    assert message.splitlines()[-3:] == [
        "",
        "Failed (see the apply's output):",
        f"- refresh of bad failed, 1 spec(s) left as they are: bad (xplenty): {AS_TEXT} (HTTP 400)",
    ]
    assert git(world, "log", "-1", "--format=%(trailers)").strip() == ""
    assert not RAW_CONTROL.search(message)


def test_debug_log_shows_calls_without_header_values_and_escaped(
    world: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XPLENTY_API_KEY", SECRET)
    # (A URL with user:password@ is refused before any call, see tests/security; the log
    # formatter masks one all the same.)
    code, _, err = world.run("--debug", "plan")
    assert code == 1
    called = r"httpx: HTTP Request: GET http://127\.0\.0\.1:\d+/acme/api/jobs"
    assert re.search(called, err)
    assert SECRET not in err
    assert not RAW_CONTROL.search(err)
    # --debug's traceback: a newline in the message breaks its line, nothing else does.
    assert "ApplyError: refresh of bad failed, 1 spec(s) left as they are: bad (xplenty): " in err
    assert "\\u202eevil\\x07\\r\n\nCo-authored-by: x <y@z> (HTTP 400)\nError: " in err


@pytest.mark.timeout(60)
def test_watch_lines_are_json_with_every_control_escaped(world: Repo) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "reconciler", "watch", "--interval", "30"],
        cwd=world.root,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    ) as watcher:
        assert watcher.stdout is not None
        line = watcher.stdout.readline()
        watcher.terminate()  # ends after the cycle, as SIGTERM does
    assert not RAW_CONTROL.search(line)
    cycle = json.loads(line)
    assert cycle["errors"] == [
        f"refresh of bad failed, 1 spec(s) left as they are: bad (xplenty): {HOSTILE} (HTTP 400)"
    ]


def test_a_lock_notes_holder_is_inert_in_errors_and_force_unlock(repo: Repo) -> None:
    # The note is a file another machine wrote (a shared filesystem): its fields are quoted.
    note = {"id": "abc123", "pid": 4242, "host": "ci\x1b[2J\u202e", "command": "apply\r\x9b1m"}
    note["since"] = "2026-11-22T10:00:00+00:00"
    (repo.root / "reconciler.lock.lck").write_text(json.dumps(note))
    repo.spec("a.yaml", jobrun("a"))

    code, _, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 1
    assert err.startswith(
        "Error: the state lock is noted as held by pid 4242 on ci\\x1b[2J\\u202e "
        "(apply\\r\\x9b1m, since"
    )
    code, out, _ = repo.run("force-unlock", "--force", "abc123")
    assert (code, out) == (
        0,
        "Cleared lock abc123 (pid 4242 on ci\\x1b[2J\\u202e, apply\\r\\x9b1m).\n",
    )

    gone = subprocess.Popen(["true"])  # a holder on this machine whose process is gone
    gone.wait()
    note.update(host=socket.gethostname(), pid=gone.pid)
    (repo.root / "reconciler.lock.lck").write_text(json.dumps(note))
    code, _, err = repo.run("--sandbox", "apply", "--auto-approve")
    assert code == 0
    assert err.startswith(
        f"Note: the state lock of pid {gone.pid} on {socket.gethostname()} (apply\\r\\x9b1m, since"
    )
