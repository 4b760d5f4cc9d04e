"""Property-based fuzzing of the config loader: a damaged or hostile ``reconciler.yaml``
(random structure, unicode, huge numbers, deep nesting, odd keys, paths leading out) gives a
Config or one InputError whose every line names a file, through the CLI no traceback, and
nothing is written."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.errors import InputError
from reconciler.providers.registry import provider_types
from reconciler.source.load import load_config
from tests.conftest import CONFIG, jobrun
from tests.spec.test_fuzz import _mutate, _paths, documents

FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
LINE = re.compile(r"^(reconciler\.yaml|specs/\S+)(:\d+(:\d+)?)?: [^\n]+$")

VALID = {
    "apiVersion": "reconciler/v1",
    "kind": "Config",
    "providers": {
        "etl": {
            "type": "xplenty",
            "base_url": "https://api.xplenty.com",
            "account": "acme",
            "credentials": {"api_key": "env:XPLENTY_API_KEY"},
            "concurrency": 4,
            "rate_limit": {"calls": 10, "per": "1h"},
        }
    },
    "specs": ["specs"],
    "lockfile": "reconciler.lock",
    "prune": False,
}

HOSTILE = st.sampled_from(
    [
        "/",
        "..",
        "../..",
        "specs/../..",
        "/etc/passwd",
        "~",
        "",
        ".",
        "reconciler.yaml",
        "specs/f.yaml",
        "a\x00b",
        "a\nb",
        "\u202e",
        "ключ",
        "x" * 5000,
        "env:1BAD",
        "file:",
        "file:/dev/zero",
        "env:GITHUB_TOKEN",
        "https://",
        "http://127.0.0.1:99999",
        10**30,
        -(2**63) - 1,
        2**64,
        1e308,
        -0.0,
        [],
        {},
        json.loads("[" * 30 + "]" * 30),
    ]
)
values = st.one_of(HOSTILE, documents)

# YAML that JSON cannot write: non-string keys, tags, anchors, special floats, deep blocks.
ODD_YAML = st.sampled_from(
    [
        "? [a, b]\n: c\n",
        "1: one\n",
        "null: x\n",
        ".inf: x\n",
        "prune: .nan\n",
        "lockfile: !!binary aGVsbG8=\n",
        "specs: !!set {a, b}\n",
        "x: &a [*a]\n",
        "specs: &s [specs]\nlockfile: *s\n",
        "specs: [" * 70 + "]" * 70 + "\n",
        "".join(" " * i + f"k{i}:\n" for i in range(80)),
        "providers: {etl: {concurrency: 0x7fffffffffffffffffff}}\n",
        "\ufeffprune: true\n",
        "\tprune: true\n",
        "%YAML 1.1\n---\nprune: yes\n",
        "--- !Config\n",
    ]
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "f.yaml").write_text(jobrun("ok"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XPLENTY_API_KEY", raising=False)
    return tmp_path


def tree(root: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime) for p in root.rglob("*")}


def check(root: Path, content: str | bytes) -> None:
    """Write ``content`` as reconciler.yaml, then load it directly and through the CLI."""
    config = root / "reconciler.yaml"
    if isinstance(content, str):
        content = content.encode("utf-8", errors="surrogatepass")
    config.write_bytes(content)
    before = tree(root)
    lines: list[str] | None = None
    try:
        load_config(config, provider_types())
    except InputError as exc:
        lines = exc.lines()
    if lines is not None:
        assert lines
        for line in lines:
            assert LINE.match(line), line
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["--config", str(config), "validate"])
    assert code in (0, 1)
    assert "Traceback" not in err.getvalue()
    assert all(line.startswith("Error: ") for line in err.getvalue().splitlines())
    assert tree(root) == before


@FUZZ
@given(st.data())
def test_a_valid_config_with_one_value_replaced(root: Path, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(VALID, [])))
    check(root, json.dumps(_mutate(VALID, path, data.draw(values))))


@FUZZ
@given(documents)
def test_any_structure(root: Path, document: Any) -> None:
    check(root, json.dumps(document))


@FUZZ
@given(st.lists(ODD_YAML, min_size=1, max_size=3), st.integers(0, len(CONFIG)))
def test_odd_yaml_spliced_into_the_config(root: Path, odd: list[str], at: int) -> None:
    check(root, CONFIG[:at] + "".join(odd) + CONFIG[at:])
    check(root, CONFIG + "".join(odd))


@FUZZ
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_any_text_or_bytes(root: Path, content: str | bytes) -> None:
    check(root, content)


@FUZZ
@given(st.lists(ODD_YAML, min_size=1, max_size=3), st.integers(0, 200))
def test_odd_yaml_spliced_into_a_spec(root: Path, odd: list[str], at: int) -> None:
    """The same hostile snippets in a spec file: one line per problem, naming the file."""
    (root / "reconciler.yaml").write_text(CONFIG)
    spec = jobrun("ok")
    (root / "specs" / "f.yaml").write_text(spec[:at] + "".join(odd) + spec[at:] + "---\n" + spec)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["--config", str(root / "reconciler.yaml"), "validate"])
    (root / "specs" / "f.yaml").write_text(jobrun("ok"))
    assert code in (0, 1)
    for line in err.getvalue().splitlines():
        assert LINE.match(line.removeprefix("Error: ")), line
