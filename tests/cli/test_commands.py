"""Commands through the real entry point: errors, confirmation, init, help, secrets."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.cli import main
from tests.conftest import Repo, jobrun

CANARY = "canary-5f1c9e7a-secret"


def test_validate_reports_line_key_path_and_reason(repo: Repo) -> None:
    text = jobrun("orders").replace("package_id: 103", "package_id: many")
    repo.spec("orders.yaml", text)
    assert text.splitlines()[8] == "    package_id: many"  # line 9
    code, out, err = repo.run("validate")
    assert (code, out) == (1, "")
    assert err == (
        "Error: specs/orders.yaml:9:5: spec.job.package_id: "
        "Input should be a valid integer, unable to parse string as an integer\n"
    )


@pytest.mark.parametrize(
    ("filename", "text", "expected"),
    [
        pytest.param("a.yaml", "a: [1\n", "invalid YAML", id="invalid-yaml"),
        pytest.param(
            "a.yaml",
            jobrun("a", extra="colour: red\n"),
            "spec.colour: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            "a.yaml", jobrun("a") + "---\n" + jobrun("a"), "duplicate name 'a'", id="duplicate-name"
        ),
        pytest.param(
            "a.yaml",
            jobrun("a").replace("provider: etl", "provider: other"),
            "unknown provider instance 'other'",
            id="unknown-instance",
        ),
    ],
)
def test_user_errors_are_one_line_without_traceback(
    repo: Repo, filename: str, text: str, expected: str
) -> None:
    repo.spec(filename, text)
    for command in (["validate"], ["--sandbox", "plan"], ["--sandbox", "apply", "--auto-approve"]):
        code, out, err = repo.run(*command)
        assert code == 1, command
        assert expected in err
        assert "Traceback" not in out + err
        assert err.startswith(f"Error: specs/{filename}:")
    assert not (repo.root / "reconciler.lock").exists()


def test_literal_secret_in_config_is_an_error_that_does_not_echo_it(repo: Repo) -> None:
    config = repo.root / "reconciler.yaml"
    config.write_text(config.read_text().replace("env:XPLENTY_API_KEY", CANARY))
    code, out, err = repo.run("validate")
    assert code == 1
    assert err == (
        "Error: reconciler.yaml:9:7: providers.etl.credentials.api_key: "
        "literal secrets are not allowed; write env:NAME or file:PATH\n"
    )
    assert CANARY not in out + err


def test_unset_credential_is_named_when_not_in_the_sandbox(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo.spec("a.yaml", jobrun("a"))
    monkeypatch.delenv("XPLENTY_API_KEY")
    code, _, err = repo.run("plan")
    assert (code, err) == (
        1,
        "Error: reconciler.yaml:9:7: providers.etl.credentials.api_key: "
        "$XPLENTY_API_KEY is not set\n",
    )


def test_every_unresolvable_credential_is_reported_at_its_line(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo.root / "prod.yaml").write_text(
        "apiVersion: reconciler/v1\n"
        "kind: Config\n"
        "providers:\n"
        "  etl:\n"
        "    type: xplenty\n"
        "    base_url: https://api.xplenty.com\n"
        "    account: acme\n"
        "    credentials: {api_key: env:XPLENTY_API_KEY}\n"
        "  etl-eu:\n"
        "    type: xplenty\n"
        "    base_url: https://api.xplenty.com\n"
        "    account: acme-eu\n"
        "    credentials:\n"
        "      api_key: file:keys/xplenty-eu.txt\n"
        "specs: [specs]\n"
    )
    repo.spec("a.yaml", jobrun("a"))
    repo.spec("b.yaml", jobrun("b").replace("provider: etl", "provider: etl-eu"))
    monkeypatch.delenv("XPLENTY_API_KEY")
    repo.capsys.readouterr()
    code = main(["--config", str(repo.root / "prod.yaml"), "plan"])
    _, err = repo.capsys.readouterr()
    assert (code, err) == (
        1,
        "Error: prod.yaml:8:19: providers.etl.credentials.api_key: $XPLENTY_API_KEY is not set\n"
        "Error: prod.yaml:14:7: providers.etl-eu.credentials.api_key: "
        "no file keys/xplenty-eu.txt in the credential directories\n",
    )


def test_unreachable_provider_is_an_error_not_a_traceback(repo: Repo) -> None:
    config = repo.root / "reconciler.yaml"
    config.write_text(config.read_text().replace("https://api.xplenty.com", "http://127.0.0.1:9"))
    repo.spec("a.yaml", jobrun("a"))
    code, _, err = repo.run("--allow-host", "127.0.0.1:9", "plan")
    assert code == 1
    assert err == (
        "Error: refresh of etl failed, 1 spec(s) left as they are: "
        "etl (xplenty): GET /jobs: cannot connect\n"
    )
    assert "Traceback" not in err


def test_usage_errors_exit_1_not_2(repo: Repo) -> None:
    code, _, err = repo.run("plan", "--bogus")
    assert code == 1
    assert "No such option '--bogus'" in err
    # A watch with no pause between cycles would hammer the providers' APIs.
    code, _, err = repo.run("watch", "--interval", "0")
    assert (code, "'--interval': 0.0 is not in the range x>=0.1." in err) == (1, True)
    code, _, err = repo.run("apply", "--auto-approve", "--lock-timeout", "-1")
    assert (code, "'--lock-timeout': -1.0 is not in the range x>=0." in err) == (1, True)


def test_init_then_validate_then_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert "Wrote reconciler.yaml, specs/example.yaml and schemas/" in capsys.readouterr().out
    assert (tmp_path / ".gitignore").read_text().splitlines() == [
        "reconciler.lock.lck",
        "reconciler.lock.journal",
        ".*.tmp",
        ".reconciler/",
        "*.plan.json",
    ]
    # The first line of each file points an editor to a schema that is there.
    for written in ("reconciler.yaml", "specs/example.yaml"):
        modeline = (tmp_path / written).read_text().splitlines()[0]
        schema = modeline.removeprefix("# yaml-language-server: $schema=")
        assert (tmp_path / written).parent.joinpath(schema).resolve().is_file(), modeline
    assert main(["validate"]) == 0
    assert capsys.readouterr().out == "1 spec(s) valid.\n"
    assert main(["--sandbox", "plan", "--detailed-exitcode"]) == 2
    assert main(["init"]) == 1
    assert "reconciler.yaml already exists; nothing was written" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", ["init", "validate", "plan", "apply", "show", "schema", "sandbox serve"]
)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: reconciler {command}")


def _run_in_terminal(root: Path, args: list[str], answer: str) -> tuple[int, str]:
    """Run the console entry point on a pseudo-terminal and answer its prompt."""
    parent, child = pty.openpty()
    env = {**os.environ, "XPLENTY_API_KEY": "k", "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        cwd=root,
        env=env,
    )
    os.close(child)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([parent], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(parent, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not answered and b"Only 'yes' will be accepted" in output:
            os.write(parent, answer.encode() + b"\n")
            answered = True
        if process.poll() is not None and not ready:
            break
    process.wait(10)
    os.close(parent)
    return process.returncode, output.decode(errors="replace")


@pytest.mark.parametrize(("answer", "code", "starts"), [("yes", 0, 1), ("no", 1, 0)])
def test_apply_asks_for_confirmation_on_a_terminal(
    repo: Repo, answer: str, code: int, starts: int
) -> None:
    repo.spec("a.yaml", jobrun("a"))
    returned, output = _run_in_terminal(repo.root, ["--sandbox", "apply"], answer)
    assert returned == code, output
    assert "Perform these actions? Only 'yes' will be accepted:" in output
    lock = repo.root / "reconciler.lock"
    assert lock.exists() is bool(starts)
    if not starts:
        assert "Apply cancelled; nothing was done." in output


def test_secret_canary_never_leaves_memory(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XPLENTY_API_KEY", CANARY)
    repo.spec("a.yaml", jobrun("a"))
    outputs = []
    for args in (
        ["--debug", "--sandbox", "plan", "-o", "p.json", "--format", "json"],
        ["--debug", "--sandbox", "apply", "--auto-approve"],
        ["--debug", "--sandbox", "show"],
        ["--debug", "--sandbox", "plan", "--format", "markdown"],
    ):
        outputs.append("".join(map(str, repo.run(*args))))
    files = [
        p
        for p in repo.root.rglob("*")
        if p.is_file() and p.suffix != ".db" and "-wal" not in p.name
    ]
    assert {p.name for p in files} >= {"p.json", "reconciler.lock"}
    for text in [*outputs, *(p.read_text(errors="replace") for p in files)]:
        assert CANARY not in text


def test_every_command_is_listed_with_its_own_summary() -> None:
    """`--help` lists the commands without importing them: each summary must be what the
    command's docstring says, and every command module must be listed."""
    import importlib
    import pkgutil

    import reconciler.commands
    from reconciler.commands import COMMANDS

    helpers = {"common", "options", "apply_push", "apply_wait"}  # parts of commands, not ones
    modules = {info.name for info in pkgutil.iter_modules(reconciler.commands.__path__)}
    assert modules - helpers == {module for module, _ in COMMANDS.values()}
    for name, (module, summary) in COMMANDS.items():
        command = getattr(importlib.import_module(f"reconciler.commands.{module}"), module)
        assert command.name == name
        assert command.get_short_help_str(limit=10_000) == summary, name


def test_specs_are_read_again_only_when_a_file_changed(repo: Repo) -> None:
    from reconciler.app.desired import load_desired
    from reconciler.app.workspace import open_workspace

    repo.spec("a.yaml", jobrun("a"))
    ws = open_workspace(repo.root / "reconciler.yaml")
    first = load_desired(ws)
    assert load_desired(ws)[0] is first[0]  # nothing changed: the same runs, not read again
    repo.spec("a.yaml", jobrun("a", package=104))
    changed = load_desired(ws)
    assert changed[0].job["package_id"] == 104
    repo.spec("b.yaml", jobrun("b"))
    assert [d.name for d in load_desired(ws)] == ["a", "b"]
