"""YAML parsing with the fast C loader; positions come from ``source.positions``.

Positions are only needed when something is wrong, so only a bad document is parsed again,
with the slower position-keeping loader (``Locator``).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from reconciler.errors import Problem, shown_key_path
from reconciler.source import libyaml
from reconciler.source.positions import Locator as Locator
from reconciler.source.positions import PathPart as PathPart
from reconciler.source.positions import Yaml12Resolver, duplicate_keys, quiet_yaml

MAX_FILE_BYTES = 4 * 1024 * 1024  # a spec file is a few KB; 4 MB is far past any real one
PURE_PARSER_MAX_BYTES = 1024 * 1024  # the pure 1.2 parser is slow: only for small files
MAX_VALUES = 100_000  # per document, aliases expanded
MAX_DEPTH = 64
MAX_INDENT = 256  # columns of block nesting (indentation plus "- " indicators)

# For the nesting pre-check: strings and comments may hold brackets that nest nothing.
_QUOTED_OR_COMMENT = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\n]|\'\')*\'|(?:^|(?<=\s))#[^\n]*', re.MULTILINE
)
_SURROGATE_ESCAPE = re.compile(r"\\(u[dD][89a-fA-F]|U0000[dD][89a-fA-F])")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BLOCK_LEAD = re.compile(r"^( *)((?:[-?:] +)*)", re.MULTILINE)
_LONG_LEAD = re.compile(rf"^[ ?:-]{{{MAX_INDENT + 1}}}", re.MULTILINE)  # may be a lead that long


class _Constructor(SafeConstructor):
    """A timestamp that is no date (``2026-02-30``, year 0) is a syntax-level problem with its
    position; ruamel raises a bare ValueError from ``datetime`` for it."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(
                None, None, f"{node.value!r} is not a valid date or time ({exc})", node.start_mark
            ) from None


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def _c_loader() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = Yaml12Resolver
    yaml.Constructor = _Constructor
    return yaml


def _pure_loader() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _Constructor
    return yaml


@dataclass(frozen=True)
class Document:
    """One YAML document of a file (files may hold several, separated by ``---``)."""

    file: str  # as shown to the user
    index: int
    data: Any


def parse_text(text: str, display: str) -> tuple[list[Document], list[Problem]]:
    """Parse every document of ``text``; a syntax error is one Problem with its position.

    libyaml 0.2 composes in C, the values built as ruamel builds them (``source.libyaml``);
    what it refuses goes to ruamel's own C loader (libyaml 0.1), whose errors are ruamel's,
    and failing that to the pure YAML 1.2 parser, which decides.
    """
    too_deep = _nesting_problem(text, display)
    if too_deep is not None:
        return [], [too_deep]
    try:
        with quiet_yaml():
            docs, bounded, problems = _load_all(text, display)
    except RecursionError:
        return [], [Problem(display, None, None, "", f"nesting deeper than {MAX_DEPTH} levels")]
    if problems:
        return [], problems
    documents = [Document(display, i, d) for i, d in enumerate(docs)]
    problems = [
        p
        for d, known in zip(documents, bounded, strict=True)
        if not known and (p := _shape_problem(d)) is not None
    ]
    surrogate = _surrogate_problem(text, docs, display)
    problems += [surrogate] if surrogate else []
    return ([], problems) if problems else (documents, [])


def _surrogate_problem(text: str, docs: list[Any], display: str) -> Problem | None:
    """A ``\\uD800`` escape is half of a UTF-16 pair, no character: the string cannot be
    written as UTF-8 (lockfile, JSON body, terminal). Only when the text has such an escape
    are the values walked; the escape's place is reported (one in a plain or single-quoted
    scalar is literal text, hence the walk)."""
    escape = _SURROGATE_ESCAPE.search(text)
    if escape is None or not any(_has_surrogate(d) for d in docs):
        return None
    line = text.count("\n", 0, escape.start()) + 1
    column = escape.start() - (text.rfind("\n", 0, escape.start()) + 1) + 1
    reason = (
        "invalid YAML: a \\uD800-\\uDFFF escape is half of a UTF-16 pair, not a character; "
        "write the character itself"
    )
    return Problem(display, line, column, "", reason)


def _has_surrogate(node: Any) -> bool:
    pending, seen = [node], set()
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if any("\ud800" <= c <= "\udfff" for c in item):
                return True
        elif isinstance(item, (dict, list)) and id(item) not in seen:
            seen.add(id(item))  # aliases share nodes
            pending.extend([*item.keys(), *item.values()] if isinstance(item, dict) else item)
    return False


def _load_all(text: str, display: str) -> tuple[list[Any], list[bool], list[Problem]]:
    """The documents, which are known to be within the bounds, or the problems."""
    fast = _fast_loader()
    with contextlib.suppress(pyyaml.YAMLError, YAMLError):  # libyaml 0.2, in C
        loaded = libyaml.load_all(
            text,
            fast.resolver,
            fast.constructor,
            _fresh_constructor,
            max_values=MAX_VALUES,
            max_depth=MAX_DEPTH,
        )
        return loaded.documents, loaded.bounded, []
    docs, problems = _load_by_ruamel(text, display)
    return docs, [False] * len(docs), problems


def _load_by_ruamel(text: str, display: str) -> tuple[list[Any], list[Problem]]:
    try:
        return list(_c_loader().load_all(text)), []  # ruamel's libyaml 0.1 may report it
    except DuplicateKeyError as exc:
        return [], _duplicate_key_problems(exc, text, display)
    except YAMLError as exc:
        refused = exc
    if len(text) > PURE_PARSER_MAX_BYTES:
        return [], [_error_problem(refused, text, display)]
    try:
        return list(_pure_loader().load_all(text)), []
    except DuplicateKeyError as again:
        return [], _duplicate_key_problems(again, text, display)
    except YAMLError as again:
        return [], [_error_problem(again, text, display)]


@cache
def _fast_loader() -> YAML:
    """The resolver and the typed-scalar constructor of the fast path (neither keeps state
    across its calls)."""
    return _c_loader()


def _fresh_constructor() -> Any:
    return _c_loader().constructor


def _nesting_problem(text: str, display: str) -> Problem | None:
    """A linear bound on nesting, checked before parsing: the C extension recurses on the C
    stack, and a file of a hundred thousand nested brackets crashes the process."""
    # Most files have fewer opening brackets than the limit, and no line led that far.
    if text.count("[") + text.count("{") > MAX_DEPTH:
        brackets = _NOT_BRACKET.sub("", _QUOTED_OR_COMMENT.sub("", text))
        depth = deepest = 0
        for char in brackets:
            depth += 1 if char in "[{" else -1
            deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return Problem(display, None, None, "", f"nesting deeper than {MAX_DEPTH} levels")
    if _LONG_LEAD.search(text) is None:
        return None
    indent = max((len(m[1]) + len(m[2]) for m in _BLOCK_LEAD.finditer(text)), default=0)
    if indent > MAX_INDENT:
        reason = f"nesting deeper than {MAX_INDENT} columns of indentation"
        return Problem(display, None, None, "", reason)
    return None


def _error_problem(exc: YAMLError, text: str, display: str) -> Problem:
    if isinstance(exc, MarkedYAMLError):
        return _syntax_problem(exc, display)
    if isinstance(exc, ReaderError) and isinstance(exc.position, int):
        # ruamel's message spans lines and names a "<unicode string>": place it instead.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        )
        reason = f"invalid YAML: character U+{code:04X} is not allowed in YAML text"
        return Problem(display, line, column, "", reason)
    return Problem(display, None, None, "", f"invalid YAML: {str(exc).splitlines()[0]}")


def _shape_problem(document: Document) -> Problem | None:
    """Bounds on what a document expands to: aliases may share a node many times over
    (an "alias bomb") or contain themselves; nesting may be absurdly deep."""
    sizes: dict[int, int] = {}  # id -> values below and including it, aliases expanded
    depth_of: dict[int, int] = {}
    pending = [(document.data, False)]
    on_path: set[int] = set()
    while pending:
        node, children_done = pending.pop()
        if not isinstance(node, (dict, list)):
            continue
        key = id(node)
        children = list(node.values()) if isinstance(node, dict) else node
        if children_done:
            on_path.discard(key)
            inner = [c for c in children if isinstance(c, (dict, list))]
            sizes[key] = 1 + len(children) + sum(sizes[id(c)] for c in inner)
            depth_of[key] = 1 + max((depth_of[id(c)] for c in inner), default=0)
            if sizes[key] > MAX_VALUES:
                reason = f"expands to more than {MAX_VALUES:,} values (an alias bomb?)"
                return Problem(
                    document.file, None, None, "", f"document {document.index + 1} {reason}"
                )
            if depth_of[key] > MAX_DEPTH:
                reason = f"nests deeper than {MAX_DEPTH} levels"
                return Problem(
                    document.file, None, None, "", f"document {document.index + 1} {reason}"
                )
            continue
        if key in sizes:
            continue
        if key in on_path:
            reason = "refers to itself through an alias"
            return Problem(document.file, None, None, "", f"document {document.index + 1} {reason}")
        on_path.add(key)
        pending.append((node, True))
        pending.extend(
            (c, False) for c in children if isinstance(c, (dict, list)) and id(c) not in sizes
        )
    return None


def read_text(path: Path, display: str) -> tuple[str | None, Problem | None]:
    """The file's text, or why it is not a YAML text file we accept."""
    raw, why = _read_regular(path)
    if why is not None or raw is None:
        return None, Problem(display, None, None, "", why or "cannot read")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, Problem(display, None, None, "", "UTF-16 text; save it as UTF-8")
    if b"\0" in raw[:8192]:
        return None, Problem(display, None, None, "", "binary file, not YAML text")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        reason = "not valid UTF-8 text; save it as UTF-8"
        return None, Problem(display, line, column, "", reason)


def _read_regular(path: Path) -> tuple[bytes | None, str | None]:
    """The bytes of a regular file of at most 4 MB. O_NONBLOCK: a FIFO swapped in after the
    file was listed must not block the read; fstat decides on what was opened."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        return None, f"cannot read: {getattr(exc, 'strerror', None) or exc}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "not a regular file"
        if info.st_size > MAX_FILE_BYTES:
            mb = info.st_size / 1024 / 1024
            limit = MAX_FILE_BYTES // 1024 // 1024
            return None, f"file too large ({mb:.1f} MB; the limit is {limit} MB)"
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read(MAX_FILE_BYTES + 1), None
    except OSError as exc:
        return None, f"cannot read: {exc.strerror}"
    finally:
        os.close(fd)


def _mark_position(exc: MarkedYAMLError) -> tuple[int | None, int | None]:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None, None
    return mark.line + 1, mark.column + 1


def _syntax_problem(exc: MarkedYAMLError, display: str) -> Problem:
    line, column = _mark_position(exc)
    reason = exc.problem or exc.context or "invalid YAML"
    if "'\\t'" in reason:  # ruamel: "found character '\t' that cannot start any token"
        reason = "a tab character; YAML indents with spaces only"
    return Problem(display, line, column, "", f"invalid YAML: {reason}")


def _duplicate_key_problems(exc: DuplicateKeyError, text: str, display: str) -> list[Problem]:
    """Every duplicate key of the document, by key path; the parser stops at the first."""
    line, column = _mark_position(exc)
    found = duplicate_keys(text, line - 1) if line is not None else []
    if any((at, col) == (line, column) for _, at, col, _ in found):
        return [
            Problem(
                display, at, col, shown_key_path(parts), f"duplicate key (first at line {first})"
            )
            for parts, at, col, first in found
        ]
    # ruamel's own message quotes both values, which may be secrets: name the key only.
    problem = exc.problem or ""
    key = problem.split('"')[1] if problem.count('"') >= 2 else "?"
    return [Problem(display, line, column, key, "duplicate key")]
