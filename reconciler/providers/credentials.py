"""Resolve ``env:NAME`` and ``file:PATH`` references; values stay in memory only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import InputError, Problem


def resolve(
    instance: str,
    references: Mapping[str, str],
    *,
    root: Path,
    environ: Mapping[str, str],
) -> tuple[dict[str, str], list[Problem]]:
    """Values for each reference, and a Problem for each that cannot be resolved."""
    values: dict[str, str] = {}
    problems: list[Problem] = []
    for key, reference in references.items():
        kind, _, target = reference.partition(":")
        where = f"providers.{instance}.credentials.{key}"
        if kind == "env":
            if environ.get(target):
                values[key] = environ[target]
            else:
                problems.append(
                    Problem("reconciler.yaml", None, None, where, f"${target} is not set")
                )
        else:
            path = Path(os.path.expanduser(target))
            path = path if path.is_absolute() else root / path
            try:
                values[key] = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                problems.append(
                    Problem("reconciler.yaml", None, None, where, f"cannot read file {target}")
                )
    return values, problems


def require(problems: list[Problem]) -> None:
    if problems:
        raise InputError(problems)
