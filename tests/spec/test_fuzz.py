"""Property-based fuzzing of the spec loader: no input produces anything but a result or an
InputError whose every line names the file; through the CLI, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.errors import InputError
from reconciler.providers.registry import provider_types
from reconciler.source.load import load_config, load_specs
from reconciler.source.yaml import _c_loader
from tests.conftest import CONFIG, jobrun

LINE = re.compile(r"^specs/f\.yaml(:\d+(:\d+)?)?: .+")
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=30,
)


def load_text(root: Path, text: str | bytes) -> None:
    (root / "specs").mkdir(exist_ok=True)
    target = root / "specs" / "f.yaml"
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8", errors="surrogatepass")
    config = load_config(root / "reconciler.yaml", provider_types())
    lines: list[str] | None = None
    try:
        load_specs(root, config, provider_types())
    except InputError as exc:
        lines = exc.lines()
    if lines is not None:
        assert lines
        for line in lines:
            assert LINE.match(line), line


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "reconciler.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@FUZZ
@given(st.text(max_size=300))
def test_any_text(root: Path, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates cannot be written as UTF-8 text
    load_text(root, text)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(root: Path, data: bytes) -> None:
    load_text(root, data)


@FUZZ
@given(documents)
def test_any_document(root: Path, document: Any) -> None:
    load_text(root, json.dumps(document))


def _mutate(node: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[head] = _mutate(copy[head], rest, value)
    return copy


def _paths(node: Any, prefix: list[Any]) -> list[list[Any]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, [*prefix, key])
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, [*prefix, index])
    return found


VALID = {
    "apiVersion": "reconciler/v1",
    "kind": "JobRun",
    "metadata": {"name": "orders", "labels": {"team": "data"}},
    "spec": {
        "provider": "etl",
        "job": {"cluster_id": 1, "package_id": 2, "variables": {"A": "'x'"}},
        "state": "completed",
        "retry": {"limit": 1},
        "timeout": "2h",
        "window": {"start": "2026-12-01T02:00:00Z", "end": "2026-12-01T04:00:00Z"},
    },
}


@FUZZ
@given(st.data())
def test_mutated_valid_spec(root: Path, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(_paths(VALID, [])))
    load_text(root, json.dumps(_mutate(VALID, path, data.draw(documents))))


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.text(max_size=200), documents.map(json.dumps)))
def test_cli_never_prints_a_traceback(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "reconciler.yaml").write_text(CONFIG)
        (root / "specs").mkdir()
        (root / "specs" / "f.yaml").write_text(text + "\n---\n" + jobrun("ok"), encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["--config", str(root / "reconciler.yaml"), "validate"])
        assert code in (0, 1)
        assert "Traceback" not in err.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_the_fast_resolver_reads_every_scalar_as_ruamel_does(text: str) -> None:
    """``_c_loader`` only skips ruamel's version look-up: the values must be the same."""
    from ruamel.yaml import YAML

    document = "value: " + json.dumps(text) + "\nplain: " + text.replace("\n", " ") + "\n"

    def load(yaml: YAML) -> str:
        try:
            return repr(list(yaml.load_all(document)))  # repr: .nan is not equal to itself
        except Exception as exc:  # the same error either way is fine too
            return type(exc).__name__

    assert load(_c_loader()) == load(YAML(typ="safe", pure=False))
