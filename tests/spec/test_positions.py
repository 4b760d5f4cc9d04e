"""Positions of a bad document come from that document alone, and equal the whole file's."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from reconciler.source.positions import Locator, document_starts

keys = st.sampled_from(["a", "b", "name", "spec", "job"])
values = st.recursive(
    st.one_of(st.integers(), st.text("ab -#:'\"", max_size=8), st.none()),
    lambda inner: st.dictionaries(keys, inner, max_size=3) | st.lists(inner, max_size=3),
    max_leaves=8,
)
separators = st.sampled_from(["---\n", "--- # next\n", "...\n---\n", "# between\n---\n"])


def dump(data: Any, flow: bool) -> str:
    yaml = YAML()
    yaml.default_flow_style = flow
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        found += paths(child, (*prefix, key))
    return found


@settings(max_examples=60, deadline=None)
@given(
    docs=st.lists(st.dictionaries(keys, values, min_size=1, max_size=3), min_size=1, max_size=5),
    seps=st.lists(separators, min_size=5, max_size=5),
    flow=st.booleans(),
    lead=st.sampled_from(["", "# header\n", "---\n", "%YAML 1.2\n---\n"]),
)
def test_each_document_is_placed_as_in_the_whole_file(
    tmp_path_factory: Any, docs: list[dict[str, Any]], seps: list[str], flow: bool, lead: str
) -> None:
    text = lead + "".join((seps[i] if i else "") + dump(doc, flow) for i, doc in enumerate(docs))
    try:
        whole = list(YAML().load_all(text))
        # What reconciler parses with: a document only the round-trip parser takes (`b: :a`
        # in a flow mapping) is refused as a parse error, and never needs a position.
        list(YAML(typ="safe", pure=True).compose_all(text))
    except YAMLError:
        assume(False)  # ruamel's flow dumper writes some strings its parser then refuses
    starts = [offset for offset, _ in document_starts(text)]
    assert len(starts) == len(docs)
    for begin, end in zip(starts, [*starts[1:], len(text)], strict=True):
        assert len(list(YAML().load_all(text[begin:end]))) == 1  # the slice, not the fallback
    path = Path(tmp_path_factory.mktemp("p")) / "f.yaml"
    path.write_text(text)
    locator = Locator()
    for index, doc in enumerate(docs):
        for parts in paths(doc):
            expected = position(whole[index], parts)
            assert locator.locate(path, index, parts) == expected, (index, parts)


def position(node: Any, parts: tuple[str | int, ...]) -> tuple[int, int]:
    line, col = node.lc.line, node.lc.col
    for part in parts:
        lc = node.lc
        line, col = lc.key(part) if isinstance(node, dict) else lc.item(part)
        node = node[part]
    return line + 1, col + 1


def test_markers_inside_text_do_not_split_documents() -> None:
    text = "a: |\n  ---\n  ...\nb: '--- x'\n---\nc: 1\n...\n# trailing\n"
    assert [line for _, line in document_starts(text)] == [0, 4]
