"""Documents ruamel's C parser refuses although they are valid YAML 1.2, parsed in C all
the same: the libyaml ruamel bundles (0.1) refuses a plain scalar holding a colon inside a
flow collection, as in our own window ``{start: 2026-12-01T02:00:00Z, end: ...}``, which
libyaml 0.2 (PyYAML's binding) accepts. Such a file went to ruamel's pure-Python parser,
about four times slower for the whole file (issue 20).

PyYAML only composes here: each node's tag comes from ruamel's YAML 1.2 resolver, its value
from ruamel's constructor, so the data is ruamel's own; only the scanning is libyaml's. Any
error here sends the text on to ruamel's pure parser, which decides and places the problem.
"""

from __future__ import annotations

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


def load_all(text: str, resolver: BaseResolver, constructor: Any) -> list[Any]:
    """Every document of ``text``; ``pyyaml.YAMLError`` (or ruamel's, from the
    constructor) when libyaml 0.2 refuses it."""

    resolved: dict[tuple[Any, Any, Any], str] = {}  # a file repeats its keys and values

    class Composer(pyyaml.CSafeLoader):
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            key = (kind, value, implicit)
            tag = resolved.get(key)
            if tag is None:
                tag = resolved[key] = _text(resolver.resolve(_KINDS[kind], value, implicit))
            return tag

    loader = Composer(text)
    try:
        roots = []
        while loader.check_node():
            roots.append(loader.get_node())
    finally:
        loader.dispose()
    return [constructor.construct_document(_Converted().node(root)) for root in roots]


class _Converted:
    """PyYAML's nodes as ruamel's, an alias kept as the same node (and a cycle as a cycle)."""

    def __init__(self) -> None:
        self._made: dict[int, nodes.Node] = {}

    def node(self, source: Any) -> nodes.Node:
        made = self._made.get(id(source))
        if made is not None:
            return made
        # PyYAML's marks have what ruamel's are read for (name, index, line, column).
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
