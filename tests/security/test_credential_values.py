"""Credential references and values a header cannot carry: each refused with one line naming
the reference and the rule in words, never the value, sandbox or not, before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Listener
from tests.security.conftest import CANARY, Run, assert_refused

KEY = "providers.etl.credentials.api_key"


def one_line(output: str) -> str:
    """The one error line, from the config's file name on (the test runs from elsewhere)."""
    [line] = output.splitlines()
    assert line.startswith("Error: ")
    return line[line.index("reconciler.yaml") :]


VARIABLE_RULE = "letters, digits and '_', not starting with a digit, at most 128 characters"


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        pytest.param(
            "env:1BAD", f"env: must be followed by a variable name: {VARIABLE_RULE}", id="digit"
        ),
        pytest.param(
            '"env:"', f"env: must be followed by a variable name: {VARIABLE_RULE}", id="empty-env"
        ),
        pytest.param(
            "env:A-B", f"env: must be followed by a variable name: {VARIABLE_RULE}", id="dash"
        ),
        pytest.param('"file:"', "file: must be followed by a path", id="empty-file"),
        pytest.param('"file:a\\tb"', "file: path contains a control character", id="control"),
        pytest.param(f"file:{'a' * 1025}", "file: path longer than 1024 characters", id="long"),
        pytest.param(
            f"{CANARY}",
            "literal secrets are not allowed; write env:NAME or file:PATH",
            id="literal",
        ),
    ],
)
def test_a_malformed_reference_is_refused_with_its_rule(
    plan: Run, listener: Listener, reference: str, why: str
) -> None:
    for old, options in (("env:XPLENTY_API_KEY", ()), (reference, ("--sandbox",))):
        code, output = plan(old, reference, *options)
        assert_refused(code, output, listener)
        assert one_line(output) == f"reconciler.yaml:8:19: {KEY}: {why}"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        pytest.param(
            f"{CANARY}-ключ",
            "holds a non-ASCII character (credentials are printable ASCII)",
            id="non-ascii",
        ),
        pytest.param(
            f"{CANARY}\n",
            "holds a control character such as a line break or tab (credentials are one line)",
            id="newline",
        ),
        pytest.param(
            f"{CANARY}\x1b[2J",
            "holds a control character such as a line break or tab (credentials are one line)",
            id="escape",
        ),
    ],
)
def test_a_value_no_http_header_can_carry_is_refused_without_showing_it(
    plan: Run, listener: Listener, monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    monkeypatch.setenv("XPLENTY_API_KEY", value)
    for options in ((), ("--sandbox",)):
        code, output = plan("env:XPLENTY_API_KEY", "env:XPLENTY_API_KEY", *options)
        assert_refused(code, output, listener)
        assert one_line(output) == f"reconciler.yaml:8:19: {KEY}: $XPLENTY_API_KEY {why}"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        pytest.param(
            f"{CANARY}-ключ\n".encode(),
            "holds a non-ASCII character (credentials are printable ASCII)",
            id="non-ascii",
        ),
        pytest.param(b"\n \n", "is empty", id="empty"),
        pytest.param(b"\xff\xfe", "is not UTF-8 text", id="not-utf8"),
    ],
)
def test_a_credential_file_must_hold_printable_ascii(
    plan: Run, listener: Listener, credentials_dir: Path, content: bytes, why: str
) -> None:
    (credentials_dir / "bad.key").write_bytes(content)
    for old, options in (("env:XPLENTY_API_KEY", ()), ("file:bad.key", ("--sandbox",))):
        code, output = plan(old, "file:bad.key", *options)
        assert_refused(code, output, listener)
        assert one_line(output) == f"reconciler.yaml:8:19: {KEY}: file bad.key {why}"
