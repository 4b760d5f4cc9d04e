"""The fast path of YAML parsing: libyaml 0.2 (PyYAML's C binding) composes, ruamel's YAML 1.2
resolver tags each scalar, and a small builder makes the values.

libyaml 0.2 rather than the 0.1 ruamel bundles: 0.1 refuses a plain scalar holding a colon
inside a flow collection, as in our own window ``{start: 2026-12-01T02:00:00Z, end: ...}``.
The builder makes dicts, lists and strings itself and leaves the typed scalars (int, float,
bool, timestamp) to ruamel's constructor, so the values are ruamel's own; a document with
anything else (a merge key, an explicit tag, a complex or duplicate key, an alias to itself)
is built by ruamel's constructor from converted nodes instead (issue 20: parsing 10,000
specs took 2.4 s through ruamel's C loader first and converted nodes, 1.1 s this way). Any
error here sends the text on to ruamel's parsers, which decide and place the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from ruamel.yaml import nodes
from ruamel.yaml.resolver import BaseResolver
from ruamel.yaml.tag import Tag

_KINDS: dict[type[Any], type[nodes.Node]] = {
    pyyaml.ScalarNode: nodes.ScalarNode,
    pyyaml.SequenceNode: nodes.SequenceNode,
    pyyaml.MappingNode: nodes.MappingNode,
}

_PREFIX = "tag:yaml.org,2002:"
_STR, _NULL, _MAP, _SEQ = (_PREFIX + kind for kind in ("str", "null", "map", "seq"))
_TYPED = {_PREFIX + kind for kind in ("int", "float", "bool", "timestamp")}


@dataclass(frozen=True)
class Loaded:
    """The documents of a text, and which of them are known to be within the bounds."""

    documents: list[Any]
    bounded: list[bool]  # no alias to a collection, at most max_values and max_depth


def load_all(
    text: str,
    resolver: BaseResolver,
    constructor: Any,
    fresh: Callable[[], Any],
    *,
    max_values: int,
    max_depth: int,
) -> Loaded:
    """Every document of ``text``; ``pyyaml.YAMLError`` (or ruamel's, from the
    constructor) when libyaml 0.2 refuses it.

    ``constructor`` makes the typed scalars (it may serve many calls: those keep no state);
    ``fresh()`` gives a new one for a document the builder leaves to ruamel. The builder
    measures what it builds, so that a document without aliases need not be walked again
    for its size and depth.
    """

    loader = _Composer(text, resolver)
    try:
        roots = []
        while loader.check_node():
            roots.append(loader.get_node())
    finally:
        loader.dispose()
    typed: dict[tuple[str, str], Any] = {}
    loaded = Loaded([], [])
    for root in roots:
        builder = _Builder(constructor, typed)
        try:
            loaded.documents.append(builder.value(root))
        except _Unusual:
            loaded.documents.append(fresh().construct_document(_Converted().node(root)))
            loaded.bounded.append(False)
            continue
        within = builder.values <= max_values and builder.deepest <= max_depth
        loaded.bounded.append(within and not builder.shared)
    return loaded


class _Composer(pyyaml.CSafeLoader):
    """libyaml's composer with ruamel's resolver: each scalar's tag as YAML 1.2 reads it.
    One class for every text, not one made per call: a class is a reference cycle, and what
    its methods hold would wait for the cycle collector (which loading holds off)."""

    def __init__(self, text: str, resolver: BaseResolver) -> None:
        super().__init__(text)
        self._resolver = resolver
        self._resolved: dict[tuple[Any, Any, Any], str] = {}  # a file repeats its scalars

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        key = (kind, value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            tag = _text(self._resolver.resolve(_KINDS[kind], value, implicit))
            self._resolved[key] = tag
        return tag


class _Unusual(Exception):
    """A node the builder leaves to ruamel's constructor."""


class _Builder:
    """Values from PyYAML's nodes, as ruamel's safe constructor makes them; an alias is the
    same value (as ruamel shares it)."""

    def __init__(self, constructor: Any, typed: dict[tuple[str, str], Any]) -> None:
        self._constructor = constructor
        self._typed = typed  # (tag, text) -> value: immutable, so shared across documents
        self._made: dict[int, Any] = {}
        self._building: set[int] = set()
        self.values = 0  # collections and their items, as source.yaml counts them
        self.deepest = 0  # collections nested
        self.shared = False  # a collection met again through an alias
        self._depth = 0

    def value(self, node: Any) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        made = self._made.get(id(node), self)
        if made is not self:
            self.shared = self.shared or isinstance(made, (dict, list))
            return made
        if tag == _NULL:
            return None
        if tag in _TYPED:
            return self._scalar(tag, node)
        if id(node) in self._building:
            raise _Unusual  # an alias inside its own anchor
        if tag != _MAP and tag != _SEQ:
            raise _Unusual  # an explicit tag: ruamel accepts or refuses it
        self._building.add(id(node))
        self.values += 1 + len(node.value)
        self._depth += 1
        self.deepest = max(self.deepest, self._depth)
        made = self._mapping(node) if tag == _MAP else [self.value(i) for i in node.value]
        self._depth -= 1
        self._building.discard(id(node))
        self._made[id(node)] = made
        return made

    def _mapping(self, node: Any) -> dict[Any, Any]:
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, pyyaml.ScalarNode) or key_node.tag == _PREFIX + "merge":
                raise _Unusual
            key = self.value(key_node)
            if key in mapping:
                raise _Unusual  # ruamel reports the duplicate
            mapping[key] = self.value(value_node)
        return mapping

    def _scalar(self, tag: str, node: Any) -> Any:
        key = (tag, node.value)
        value = self._typed.get(key, self)
        if value is self:
            # PyYAML's marks have what ruamel's are read for (name, index, line, column).
            converted = nodes.ScalarNode(
                _tag(tag), node.value, node.start_mark, node.end_mark, style=node.style
            )
            # Not construct_object, which would remember every node in a long-lived constructor.
            value = self._typed[key] = self._constructor.construct_non_recursive_object(converted)
        return value


class _Converted:
    """PyYAML's nodes as ruamel's, an alias kept as the same node (and a cycle as a cycle)."""

    def __init__(self) -> None:
        self._made: dict[int, nodes.Node] = {}

    def node(self, source: Any) -> nodes.Node:
        made = self._made.get(id(source))
        if made is not None:
            return made
        start, end = source.start_mark, source.end_mark
        if isinstance(source, pyyaml.ScalarNode):
            made = nodes.ScalarNode(_tag(source.tag), source.value, start, end, style=source.style)
            self._made[id(source)] = made
            return made
        if isinstance(source, pyyaml.SequenceNode):
            made = nodes.SequenceNode(
                _tag(source.tag), [], start, end, flow_style=source.flow_style
            )
            self._made[id(source)] = made
            made.value.extend(self.node(item) for item in source.value)
            return made
        made = nodes.MappingNode(_tag(source.tag), [], start, end, flow_style=source.flow_style)
        self._made[id(source)] = made
        made.value.extend((self.node(k), self.node(v)) for k, v in source.value)
        return made


# One Tag per tag: a Tag works its text out (decoding %-escapes, a character at a time) once.
_TAGS: dict[str, Tag] = {}
_TEXTS: dict[str, str] = {}


def _tag(text: str) -> Tag:
    tag = _TAGS.get(text)
    if tag is None:
        tag = _TAGS[text] = Tag(suffix=text)
    return tag


def _text(tag: Tag) -> str:
    text = _TEXTS.get(tag.suffix)
    if text is None:
        text = _TEXTS[tag.suffix] = str(tag)
    return text
