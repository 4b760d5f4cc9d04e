"""Positions (``line:col``) of key paths, found only when something is wrong.

The fast C loader keeps no positions, so a bad document is parsed again by the round-trip
loader, which does. Only that document: re-reading a whole file of 10,000 documents for one
bad value took 15 s and twice the memory of loading it (``benchmarks/bad_document.py``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError, YAMLFutureWarning, YAMLWarning
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

PathPart = str | int


class Yaml12Resolver(VersionedResolver):
    """YAML 1.2 for the C parser, which reports no ``%YAML`` directive anyway: ruamel works
    that out again for every scalar, through two caught AttributeErrors (~30% of parsing)."""

    @property
    def processing_version(self) -> Any:
        return (1, 2)


# A document marker is a line starting with "---" or "..." and a space or the line's end;
# YAML forbids such a line inside any scalar, so it always separates documents.
_MARKER = re.compile(r"^\ufeff?(---|\.\.\.)(?=[ \t\r\n]|\Z)", re.MULTILINE)
_NOT_CONTENT = re.compile(r"^\s*(#.*|%.*)?$")  # blank, comment or directive lines


@contextmanager
def quiet_yaml() -> Iterator[None]:
    """ruamel warns, on stderr and over several lines quoting the text, about valid YAML (an
    anchor defined twice) and YAML 1.1 habits; what the parser accepts or refuses decides."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", YAMLWarning)
        warnings.simplefilter("ignore", YAMLFutureWarning)
        yield


def document_starts(text: str) -> list[tuple[int, int]]:
    """``(offset, line)`` where each document of ``text`` begins (0-based line).

    A ``---`` always starts a document, even an empty one; text before the first ``---``
    or after a ``...`` is a document only if it holds content, not just comments.
    """
    starts: list[tuple[int, int]] = []
    pieces = [(0, "")] + [(m.start(), m[1]) for m in _MARKER.finditer(text)]
    ends = [offset for offset, _ in pieces[1:]] + [len(text)]
    line = counted = 0  # newlines before ``counted``, counted once: files hold 10,000 documents
    for (offset, marker), end in zip(pieces, ends, strict=True):
        if marker == "...":  # the rest of the "..." line belongs to no document
            newline = text.find("\n", offset, end)
            offset = end if newline == -1 else newline + 1
        if marker == "---" or not all(_NOT_CONTENT.match(x) for x in text[offset:end].split("\n")):
            line += text.count("\n", counted, offset)
            counted = offset
            starts.append((offset, line))
    return starts


class Locator:
    """Finds ``(line, column)`` of a key path in a file, composing only the document asked for.

    Composing (YAML nodes with their marks, no values built) is what positions need; the C
    composer does it about ten times as fast as the round-trip loader, so even a file whose
    every document is bad is placed in about the time it takes to load.
    """

    def __init__(self) -> None:
        self._texts: dict[Path, str | None] = {}
        self._starts: dict[Path, list[tuple[int, int]]] = {}
        self._whole: dict[Path, list[Node | None]] = {}
        self._documents: dict[tuple[Path, int], tuple[Node | None, int]] = {}
        # Reused: setting a YAML object up costs as much as composing a small document.
        self._composers = (_c_composer(), YAML(typ="safe", pure=True))

    def _text(self, path: Path) -> str | None:
        if path not in self._texts:
            try:
                self._texts[path] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                self._texts[path] = None
        return self._texts[path]

    def _document(self, path: Path, index: int) -> tuple[Node | None, int]:
        """The document's root node and the line its slice starts on; ``(None, 0)`` if none."""
        if (path, index) not in self._documents:
            self._documents[path, index] = self._compose(path, index)
        return self._documents[path, index]

    def _compose(self, path: Path, index: int) -> tuple[Node | None, int]:
        text = self._text(path)
        if text is None:
            return None, 0
        if path not in self._starts:
            self._starts[path] = document_starts(text)
        starts = self._starts[path]
        if index < len(starts):
            offset, line = starts[index]
            end = starts[index + 1][0] if index + 1 < len(starts) else len(text)
            found = _compose_all(text[offset:end], self._composers)
            if len(found) == 1:
                return found[0], line
        # The markers did not split the file as the parser did: the whole file (once).
        if path not in self._whole:
            self._whole[path] = _compose_all(text, self._composers)
        whole = self._whole[path]
        return (whole[index], 0) if index < len(whole) else (None, 0)

    def locate(
        self, path: Path, index: int, parts: Sequence[PathPart]
    ) -> tuple[int | None, int | None]:
        """Position of the deepest existing node on ``parts`` (1-based), or ``(None, None)``."""
        node, first_line = self._document(path, index)
        if node is None:
            return None, None
        mark = node.start_mark
        for part in parts:
            found = _child(node, part)
            if found is None:
                break
            mark, node = found
        return mark.line + 1 + first_line, mark.column + 1


def _c_composer() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = Yaml12Resolver
    return yaml


def _compose_all(text: str, composers: Sequence[YAML]) -> list[Node | None]:
    """Every document's root node (``None`` for an empty document)."""
    for composer in composers:  # C first (YAML 1.1); the pure one decides, as in parsing
        try:
            with quiet_yaml():
                return list(composer.compose_all(text))
        except (YAMLError, RecursionError):
            continue
    return []


def _child(node: Node, part: PathPart) -> tuple[Any, Node] | None:
    """The mark where ``part`` of ``node`` is written (a key, or a list item) and its node."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == str(part):
                return key.start_mark, value
    elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item.start_mark, item
    return None


Duplicate = tuple[list[PathPart], int, int, int]  # key path, line, column, line of the first


def duplicate_keys(text: str, line: int) -> list[Duplicate]:
    """Every duplicate key of the document holding ``line`` (0-based), with its key path;
    positions 1-based. Composing builds no values, and stops at that document."""
    for pure in (False, True):  # the C composer is YAML 1.1; the pure one decides, as in parsing
        try:
            with quiet_yaml():
                for document in YAML(typ="safe", pure=pure).compose_all(text):
                    if document is not None and document.end_mark.line >= line:
                        return _duplicates(document)
        except (YAMLError, RecursionError):
            continue
    return []


def _duplicates(root: Node) -> list[Duplicate]:
    found: list[Duplicate] = []
    pending: list[tuple[Node, list[PathPart]]] = [(root, [])]
    seen: set[int] = set()  # aliases share nodes, and may even contain themselves
    while pending:
        node, parts = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            pending.extend((child, [*parts, i]) for i, child in enumerate(node.value))
        if not isinstance(node, MappingNode):
            continue
        first: dict[str, Node] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                continue
            if key.value in first:
                mark = key.start_mark
                earlier = first[key.value].start_mark.line + 1
                found.append(([*parts, key.value], mark.line + 1, mark.column + 1, earlier))
            first.setdefault(key.value, key)
            pending.append((value, [*parts, key.value]))
    return found
