"""The paths ``reconciler.yaml`` names (``specs``, ``lockfile``) stay inside the repository.

``reconciler.yaml`` arrives in pull requests and is read in CI: ``specs: [/]`` walked the
whole filesystem, and a lockfile outside the repository would be written over. Each path
must be relative, lead nowhere outside the directory holding ``reconciler.yaml`` (neither by
``..`` nor through a symbolic link) and be of the right kind.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from reconciler.source.positions import PathPart

PathProblem = tuple[list[PathPart], str]  # key path in reconciler.yaml, reason
MAX_PATH = 1024  # characters; every message repeats the path
MAX_NAME = 255  # characters in one component, as most filesystems


def _outside(root: Path, name: str) -> str | None:
    """Why ``name`` is no relative path inside ``root``, or None."""
    if not name:
        return "is empty"
    if len(name) > MAX_PATH or any(len(part) > MAX_NAME for part in Path(name).parts):
        return f"is longer than {MAX_PATH} characters, or one of its names than {MAX_NAME}"
    if not name.isprintable():  # controls, line breaks, lone surrogates (no file name has one)
        return "contains a control character or one that cannot be printed"
    if os.path.isabs(name) or Path(name).drive:
        return "is an absolute path; write it relative to reconciler.yaml"
    if ".." in Path(name).parts and os.path.normpath(name).split(os.sep)[0] == "..":
        return "leads outside the repository ('..')"
    try:
        real = (root / name).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return "cannot be resolved (a loop of symbolic links?)"
    if real != root and root not in real.parents:
        return "leads outside the repository through a symbolic link"
    return None


def _kind(path: Path) -> int | None:
    try:
        return path.stat().st_mode
    except (OSError, ValueError):
        return None


def spec_path_problems(root: Path, directories: Sequence[str], config: Path) -> list[PathProblem]:
    """Each ``specs`` entry: a directory (or one file) inside the repository, not its root."""
    problems: list[PathProblem] = []
    for index, name in enumerate(directories):
        parts: list[PathPart] = ["specs", index]
        why = _outside(root, name)
        mode = _kind(root / name) if why is None else None
        if why is None and mode is None:
            why = f"no such directory: {name}"
        elif why is None and (root / name).resolve() == root:
            why = "is the repository itself; name the directory that holds the specs"
        elif why is None and (root / name).resolve() == config:
            why = "is reconciler.yaml itself, not a spec"
        elif why is None and mode is not None and not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            why = "is neither a directory nor a regular file"
        if why is not None:
            problems.append((parts, why))
    return problems


def lockfile_problem(
    root: Path, lockfile: str, directories: Sequence[str], config: Path
) -> PathProblem | None:
    """The lockfile: a file inside the repository, apart from the specs and the config."""
    why = _outside(root, lockfile)
    if why is not None:
        return ["lockfile"], why
    real = (root / lockfile).resolve()
    mode = _kind(real)
    parent_mode = _kind(real.parent)
    if mode is not None and stat.S_ISDIR(mode):
        why = "is a directory; name a file, e.g. reconciler.lock"
    elif mode is not None and not stat.S_ISREG(mode):
        why = "is not a regular file"
    elif parent_mode is None:
        why = f"its directory {os.path.dirname(lockfile)} does not exist"
    elif not stat.S_ISDIR(parent_mode):
        why = f"{os.path.dirname(lockfile)} is not a directory"
    elif real == config:
        why = "is reconciler.yaml itself"
    elif root / ".git" in (real, *real.parents):
        why = "is inside .git, which is git's own"
    else:
        why = _among_specs(root, real, directories)
    return None if why is None else (["lockfile"], why)


def _among_specs(root: Path, lockfile: Path, directories: Sequence[str]) -> str | None:
    for name in directories:
        if _outside(root, name) is not None:
            continue  # reported at its own entry
        spec = (root / name).resolve()
        if spec == lockfile:
            return f"is the spec file {name}"
        if spec != root and spec in lockfile.parents:
            return f"is inside the spec directory {name}; keep state apart from the specs"
    return None
