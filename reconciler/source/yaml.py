"""YAML parsing: the fast C loader for the happy path, the round-trip loader for positions.

Positions are only needed when something is wrong, so a file is re-read with the slower,
position-keeping loader only then (``Locator``), and at most once per file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from reconciler.errors import Problem

PathPart = str | int


@dataclass(frozen=True)
class Document:
    """One YAML document of a file (files may hold several, separated by ``---``)."""

    file: str  # as shown to the user
    index: int
    data: Any


def parse_text(text: str, display: str) -> tuple[list[Document], list[Problem]]:
    """Parse every document of ``text``; a syntax error is one Problem with its position.

    The C (libyaml) scanner is fast but YAML 1.1: it refuses some valid YAML 1.2, such as
    ``{start: 2026-12-01T02:00:00Z}`` (a colon inside a plain scalar in a flow mapping). On
    its syntax errors the text is parsed again by the pure YAML 1.2 parser, which decides.
    """
    try:
        docs = list(YAML(typ="safe", pure=False).load_all(text))
    except DuplicateKeyError as exc:
        return [], [_duplicate_key_problem(exc, display)]
    except YAMLError:
        try:
            docs = list(YAML(typ="safe", pure=True).load_all(text))
        except DuplicateKeyError as exc:
            return [], [_duplicate_key_problem(exc, display)]
        except MarkedYAMLError as exc:
            return [], [_syntax_problem(exc, display)]
        except YAMLError as exc:  # unmarked errors
            return [], [Problem(display, None, None, "", f"invalid YAML: {exc}")]
    return [Document(display, i, d) for i, d in enumerate(docs)], []


def read_text(path: Path, display: str) -> tuple[str | None, Problem | None]:
    try:
        return path.read_text(encoding="utf-8"), None
    except UnicodeDecodeError:
        return None, Problem(display, None, None, "", "not valid UTF-8 text")
    except OSError as exc:
        return None, Problem(display, None, None, "", f"cannot read: {exc.strerror}")


def _mark_position(exc: MarkedYAMLError) -> tuple[int | None, int | None]:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None, None
    return mark.line + 1, mark.column + 1


def _syntax_problem(exc: MarkedYAMLError, display: str) -> Problem:
    line, column = _mark_position(exc)
    reason = exc.problem or exc.context or "invalid YAML"
    return Problem(display, line, column, "", f"invalid YAML: {reason}")


def _duplicate_key_problem(exc: DuplicateKeyError, display: str) -> Problem:
    line, column = _mark_position(exc)
    # ruamel's own message quotes both values, which may be secrets: name the key only.
    problem = exc.problem or ""
    key = problem.split('"')[1] if problem.count('"') >= 2 else "?"
    return Problem(display, line, column, key, "duplicate key")


class Locator:
    """Finds ``(line, column)`` of a key path in a file, re-reading it with positions."""

    def __init__(self) -> None:
        self._cache: dict[Path, list[Any]] = {}

    def _documents(self, path: Path) -> list[Any]:
        if path not in self._cache:
            try:
                self._cache[path] = list(YAML().load_all(path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, YAMLError):
                self._cache[path] = []
        return self._cache[path]

    def locate(
        self, path: Path, index: int, parts: Sequence[PathPart]
    ) -> tuple[int | None, int | None]:
        """Position of the deepest existing node on ``parts`` (1-based), or ``(None, None)``."""
        docs = self._documents(path)
        if index >= len(docs):
            return None, None
        node = docs[index]
        position = _node_position(node)
        for part in parts:
            child_position = _child_position(node, part)
            if child_position is None:
                break
            position = child_position
            node = node[part]
        return position

    def has_documents(self, path: Path) -> bool:
        return bool(self._documents(path))


def _node_position(node: Any) -> tuple[int | None, int | None]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return None, None
    return lc.line + 1, lc.col + 1


def _child_position(node: Any, part: PathPart) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if isinstance(node, dict) and part in node:
            line, col = lc.key(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            line, col = lc.item(part)
        else:
            return None
    except (KeyError, IndexError, TypeError):
        return None
    return int(line) + 1, int(col) + 1
