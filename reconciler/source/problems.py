"""Problems as people read them: pydantic's errors turned into ``file:line:col: key.path:
reason`` with the rule in words, never a regular expression or a Python repr."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.errors import Problem, did_you_mean, display_path, shown_key_path
from reconciler.source.suggest import known_keys
from reconciler.source.yaml import Document, Locator, PathPart
from reconciler.spec.limits import (
    API_ID_PATTERN,
    API_ID_RULE,
    VARIABLE_NAME_PATTERN,
    VARIABLE_NAME_RULE,
)
from reconciler.spec.models import NAME_PATTERN, TYPE_PATTERN, TYPE_RULE

_REASONS = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",  # pydantic's message names our Python class
    "string_type": "must be a string",
    "string_unicode": "holds half of a UTF-16 surrogate pair, not a character",
    "timezone_aware": "needs a time zone, e.g. 2026-12-01T02:00:00Z",
}


# A pattern's rule in words: a regular expression is no message for a person.
_PATTERN_RULES = {
    NAME_PATTERN: "lowercase letters, digits and '-', starting and ending with a letter or "
    "digit, at most 63 characters",
    API_ID_PATTERN: API_ID_RULE,
    VARIABLE_NAME_PATTERN: VARIABLE_NAME_RULE,
    TYPE_PATTERN: TYPE_RULE,
    r"^https?://": "an http:// or https:// URL",
}


def _reason(error: Mapping[str, Any]) -> str:
    reason = _REASONS.get(str(error["type"]))
    if reason:
        return reason
    context = error.get("ctx", {})
    bounds = {
        "less_than_equal": ("at most", "le"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "greater_than": ("more than", "gt"),
        "too_short": ("at least", "min_length"),
        "too_long": ("at most", "max_length"),
        "string_too_long": ("at most", "max_length"),
    }
    if error["type"] in bounds:
        words, name = bounds[str(error["type"])]
        unit = " item(s)" if "too" in error["type"] else ""
        unit = " characters" if error["type"] == "string_too_long" else unit
        return f"{words} {context.get(name)}{unit}"
    if error["type"] == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        return _PATTERN_RULES.get(pattern, "not of the form expected here")
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def validation_problems(
    exc: ValidationError,
    *,
    path: Path,
    document: Document,
    locator: Locator,
    prefix: Sequence[PathPart] = (),
    model: type[BaseModel] | None = None,
) -> list[Problem]:
    """One Problem per pydantic error, placed at the deepest node that exists; an unknown
    key gets the closest key ``model`` takes there, if one is close."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [p for p in error["loc"] if isinstance(p, (str, int))]
        parts = [*prefix, *loc]
        reason = _reason(error)
        if error["type"] == "extra_forbidden" and loc:
            reason += did_you_mean(str(loc[-1]), known_keys(model, loc[:-1]))
        if parts and parts[-1] == "[key]":  # pydantic's name for "the key itself"
            wrong_type = error["type"] == "string_type"
            reason = "a key here must be a string" if wrong_type else f"not a valid key: {reason}"
            parts = parts[:-1]
        line, column = locator.locate(path, document.index, parts)
        problems.append(Problem(document.file, line, column, shown_key_path(parts), reason))
    return problems


def config_problem(path: Path, locator: Locator, parts: Sequence[PathPart], reason: str) -> Problem:
    """A problem of ``reconciler.yaml`` at the deepest existing node of ``parts``."""
    line, column = locator.locate(path, 0, parts)
    return Problem(display_path(path), line, column, shown_key_path(parts), reason)
