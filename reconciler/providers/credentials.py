"""Resolve ``env:NAME`` and ``file:PATH`` references; values stay in memory only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def resolve(
    references: Mapping[str, str], *, root: Path, environ: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Values for each reference, and the reason for each that cannot be resolved."""
    values: dict[str, str] = {}
    failures: dict[str, str] = {}
    for key, reference in references.items():
        kind, _, target = reference.partition(":")
        if kind == "env":
            if environ.get(target):
                values[key] = environ[target]
            else:
                failures[key] = f"${target} is not set"
        else:
            path = Path(os.path.expanduser(target))
            path = path if path.is_absolute() else root / path
            try:
                values[key] = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                failures[key] = f"cannot read file {target}"
    return values, failures
