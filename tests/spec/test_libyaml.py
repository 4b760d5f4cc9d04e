"""The fast path (``source.libyaml``: libyaml 0.2 composes, ruamel resolves, a builder or
ruamel's constructor makes the values) reads what ruamel's pure YAML 1.2 parser reads, on
text built from the scalars where YAML 1.1 and 1.2 differ, explicit tags, anchors and aliases,
in flow and block collections, with merge keys; and where the pure parser refuses the text,
the fast path refuses it too (the file then goes on to ruamel's parsers, whose problem is
reported)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.source import libyaml
from reconciler.source.positions import quiet_yaml
from reconciler.source.yaml import _c_loader, _pure_loader

PLAIN = [
    "2026-11-01T09:00:00Z",
    "2026-11-01",
    "2026-02-30",
    "2026-11-01 09:00:00.5 +01:00",
    "12:30",
    "1:20:30",
    "a:b",
    "http://x/y",
    "0o17",
    "017",
    "0x1F",
    "0b101",
    "1_000",
    "+1",
    "-0",
    ".5",
    "1e3",
    "1.5e-3",
    "1_000.5",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "~",
    "null",
    "Null",
    "true",
    "True",
    "FALSE",
    ".inf",
    "-.Inf",
    ".nan",
    "=",
    "x y",
    "-",
    "a-b",
    "é",
]
TAGGED = ["!!str 017", "!!float 1", "!!int '7'", "!!binary aGk=", "!!null ''", "!local x"]
scalar = (
    st.sampled_from(PLAIN)
    | st.sampled_from([f"'{p}'" for p in PLAIN[:8]])
    | st.sampled_from(TAGGED)
)


def flow(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return scalar
    inner = flow(depth - 1)
    pairs = st.lists(st.tuples(st.sampled_from(["k", "a:b", "2026-11-01", "1", "<<"]), inner))
    return (
        inner
        | st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")
        | pairs.map(lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv[:4]) + "}")
    )


documents = st.lists(
    st.tuples(st.sampled_from(["start", "end", "w", "<<", "list"]), flow(3)), min_size=1, max_size=5
).map(lambda pairs: "".join(f"{k}: {v}\n" for k, v in pairs)) | flow(3).map(
    lambda value: f"anchored: &a {value}\nalias: *a\nlist: [*a, *a]\n"
)


def _fresh() -> Any:
    return _c_loader().constructor


def _read(loader: Any, text: str) -> str:
    with quiet_yaml():
        try:
            return repr(loader(text))  # repr: .nan is not equal to itself
        except Exception as exc:
            return type(exc).__name__


@settings(max_examples=600, deadline=None)
@given(st.lists(documents, min_size=1, max_size=3).map("---\n".join))
def test_the_libyaml_path_reads_what_the_pure_parser_reads(text: str) -> None:
    def fast(text: str) -> list[Any]:
        loader = _c_loader()
        return libyaml.load_all(
            text, loader.resolver, loader.constructor, _fresh, max_values=100, max_depth=9
        ).documents

    pure = _read(lambda t: list(_pure_loader().load_all(t)), text)
    through = _read(fast, text)
    if pure.endswith("Error"):  # refused by both (their messages are the pure parser's)
        assert through.endswith("Error"), text
    else:
        assert through == pure, text


def test_a_flow_window_is_read_in_c_as_the_pure_parser_reads_it() -> None:
    text = "window: {start: 2026-11-01T09:00:00Z, end: 2099-11-30T18:00:00Z}\n"
    loader = _c_loader()
    loaded = libyaml.load_all(
        text, loader.resolver, loader.constructor, _fresh, max_values=100, max_depth=9
    )
    assert loaded.bounded == [True]
    assert loaded.documents == list(YAML(typ="safe", pure=True).load_all(text))
