"""The document format of what reconciler writes (lockfile, saved plan): strict JSON read
through the model, refused with the line, column and key path of each problem; written with
sorted keys so git diffs stay small.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from reconciler import __version__
from reconciler.errors import InputError, Problem, key_path

if TYPE_CHECKING:
    import jsonschema

M = TypeVar("M", bound=BaseModel)
# What the model's parser says of nesting deeper than its limit (200), which the standard
# library's (about 1,000) still reads.
_NESTED = re.compile(r"^Invalid JSON: recursion limit exceeded at line (\d+) column (\d+)$")


@cache
def _validator(model: type[BaseModel]) -> jsonschema.protocols.Validator:
    import jsonschema  # only for a refused document: importing it cost every command ~50 ms

    schema = model.model_json_schema()
    cls = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = cls(schema)
    return validator


def read_json_document(path: Path, model: type[M], display: str, *, version_field: str) -> M:
    """Read a document named on the command line (a saved plan), strictly."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(display, None, None, "", f"cannot read: {exc}")]) from None
    return parse_json_document(text, model, display, version_field=version_field)


def parse_json_document(text: str, model: type[M], display: str, *, version_field: str) -> M:
    """A document reconciler wrote (lockfile, saved plan), read strictly.

    The gate is the model in strict JSON mode (fast, no lax coercions); its JSON Schema is
    generated from the same model. When the gate fails, a format version newer than the model's
    is reported alone (an older reconciler meeting a newer file); otherwise the document is
    checked against the schema with jsonschema, whose key paths best report a hand edit, each
    placed at its line and column in the text.
    """
    try:
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        rejected = exc
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError([Problem(display, None, None, "", "invalid: nested too deeply")]) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            [Problem(display, exc.lineno, exc.colno, "", f"invalid JSON: {exc.msg}")]
        ) from None
    newer = _newer_format(data, model, version_field)
    if newer:
        [place] = _places(text, [(version_field,)]).values()
        raise InputError([Problem(display, *place, version_field, newer)])
    refused = _refused_only(data, rejected)
    errors = sorted(_validator(model).iter_errors(refused), key=lambda e: list(e.absolute_path))
    found = [(tuple(e.absolute_path), _schema_reason(e)) for e in errors] or [
        (e["loc"], e["msg"]) for e in rejected.errors(include_input=False, include_url=False)
    ]
    deep = _NESTED.search(found[0][1]) if not errors else None
    if deep:  # deeper than the model's parser goes, not than the standard library's
        line, column = int(deep[1]), int(deep[2])
        raise InputError([Problem(display, line, column, "", "invalid: nested too deeply")])
    places = _places(text, [path for path, _ in found])
    raise InputError(
        [Problem(display, *places[path], _json_path(path), why) for path, why in found]
    )


def _refused_only(data: Any, rejected: ValidationError) -> Any:
    """``data`` with, in each object-valued field, only the members the model refused: the
    schema then tells the same problems in the time the bad part takes, not the whole (one bad
    record of 100,000 took 47 s of jsonschema)."""
    if not isinstance(data, dict):
        return data
    members: dict[str, set[str]] = {}
    whole: set[str] = set()
    for error in rejected.errors(include_input=False, include_url=False):
        loc = error["loc"]
        if len(loc) >= 2 and isinstance(loc[1], str):
            members.setdefault(str(loc[0]), set()).add(loc[1])
        elif loc:
            whole.add(str(loc[0]))
    pruned = dict(data)
    for field, names in members.items():
        value = data.get(field)
        if field not in whole and isinstance(value, dict):
            pruned[field] = {name: value[name] for name in names if name in value}
    return pruned


def _newer_format(data: object, model: type[BaseModel], version_field: str) -> str | None:
    supported = model.model_fields[version_field].default
    found = data.get(version_field) if isinstance(data, dict) else None
    if not isinstance(found, int) or isinstance(found, bool) or found <= supported:
        return None
    writer = data.get("reconciler_version") if isinstance(data, dict) else None
    by = f"reconciler {writer}" if isinstance(writer, str) else "a newer reconciler"
    return (
        f"format version {found} was written by {by}; this is reconciler {__version__}, "
        f"which reads up to version {supported}: upgrade reconciler"
    )


def _schema_reason(error: jsonschema.ValidationError) -> str:
    # jsonschema's message quotes the offending value; keep it short.
    message = error.message
    return message if len(message) <= 160 else message[:157] + "..."


def _json_path(parts: Iterable[str | int]) -> str:
    return key_path(parts) or "(document)"


KeyPath = tuple[str | int, ...]
Place = tuple[int | None, int | None]
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _places(text: str, paths: Collection[KeyPath]) -> dict[KeyPath, Place]:
    """Line and column of each key path in ``text`` (JSON that reads): of the key of an
    object's member, of an array's item; of its deepest part there for a path that is not
    all there (a missing key); none for the whole document. One pass that descends only
    towards the paths, other values skipped by the C scanner: every record of a large
    lockfile bad costs about one more read of it, not one per record."""
    wanted = {path[:n] for path in paths for n in range(1, len(path) + 1)}
    inner = {path[:n] for path in paths for n in range(len(path))}
    offsets: dict[KeyPath, int] = {}

    def space(at: int) -> int:
        found = _SPACE.match(text, at)  # matches the empty string: never None
        return found.end() if found else at

    def walk(at: int, path: KeyPath) -> int:  # at a value; returns the end of it
        at = space(at)
        if path not in inner or text[at] not in "{[":
            return _DECODER.raw_decode(text, at)[1]
        close, index = ("}" if text[at] == "{" else "]"), 0
        at = space(at + 1)
        while text[at] != close:
            child = at
            key: str | int
            if close == "}":
                key, at = _DECODER.raw_decode(text, at)
                at = space(at) + 1  # past the colon
            else:
                key, index = index, index + 1
            if (*path, key) in wanted:
                offsets[(*path, key)] = child  # a key given twice: its last, as json reads it
            at = space(walk(at, (*path, key)))
            at = space(at + 1) if text[at] == "," else at
        return at + 1

    walk(0, ())
    found = {
        path: next((offsets[path[:n]] for n in range(len(path), 0, -1) if path[:n] in offsets), -1)
        for path in paths
    }
    lines: dict[int, Place] = {-1: (None, None)}
    line, line_start, last = 1, 0, 0
    for at in sorted(set(found.values()) - {-1}):
        newlines = text.count("\n", last, at)
        if newlines:
            line, line_start = line + newlines, text.rfind("\n", last, at) + 1
        lines[at], last = (line, at - line_start + 1), at
    return {path: lines[at] for path, at in found.items()}


def dump_json(model: BaseModel) -> str:
    """The document as indented JSON, fields in the model's order, dict keys in theirs
    (pydantic's serializer: a plan of 100,000 records in about a second, where the standard
    library's indenting encoder, pure Python, took several)."""
    return model.model_dump_json(indent=2, by_alias=True) + "\n"


def json_chunks(model: BaseModel, entries: Sequence[str], batch: int = 1000) -> Iterator[str]:
    """``dump_json``'s text in pieces, the top-level fields ``entries`` (tuples of models,
    or dicts of them by name) ``batch`` entries at a time: a plan of 100,000 runs is ~110 MB
    of JSON, which made whole was held several times over on its way out (issue 20)."""
    empty = {name: type(getattr(model, name))() for name in entries}
    rest = model.model_copy(update=empty).model_dump_json(indent=2, by_alias=True)
    markers = {
        name: f'\n  "{name}": ' + ("{}" if isinstance(empty[name], dict) else "[]")
        for name in entries
    }
    for name in sorted(entries, key=lambda n: rest.index(markers[n])):
        at = rest.index(markers[name]) + len(markers[name]) - 1  # at the closing bracket
        yield rest[:at]
        yield from _entries(getattr(model, name), _adapter(type(model), name), batch)
        yield rest[at]
        rest = rest[at + 1 :]
    yield rest + "\n"


@cache
def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """The adapter of the field's own type: entries dumped as ``model_dump_json`` would."""
    annotation = model.model_fields[name].annotation
    if annotation is None:
        raise TypeError(f"{model.__name__}.{name} has no type")
    return TypeAdapter(annotation)


def _entries(
    value: Sequence[BaseModel] | Mapping[str, BaseModel], adapter: TypeAdapter[Any], batch: int
) -> Iterator[str]:
    """The entries of a top-level field, as pydantic indents them at depth 2: each batch
    dumped as the field's type (``[``/``{`` at depth 0), its brackets cut, shifted in."""
    parts: Iterator[object]
    if isinstance(value, Mapping):
        names = list(value)
        parts = (
            {n: value[n] for n in names[at : at + batch]} for at in range(0, len(names), batch)
        )
    else:
        parts = (tuple(value[at : at + batch]) for at in range(0, len(value), batch))
    separator = ""
    for part in parts:
        text = adapter.dump_json(part, indent=2, by_alias=True).decode()
        yield separator + text[1:-2].replace("\n", "\n  ")
        separator = ","
    if value:
        yield "\n  "
