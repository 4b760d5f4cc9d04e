"""Resolve ``env:NAME`` and ``file:PATH`` references; values stay in memory only.

``reconciler.yaml`` comes from the repository, so a pull request can edit it: a reference
must not read what the repository does not own. Where credential files may live and which
variables are out of bounds are decided here and from the environment, never by the YAML.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

MAX_CREDENTIAL_BYTES = 4096
# Variables of CI platforms (their job tokens) and reconciler's own: never credentials.
DENIED_VARIABLES = (
    "GITHUB_*",
    "GH_TOKEN",
    "ACTIONS_*",
    "RUNNER_*",
    "CI_*",
    "GITLAB_*",
    "BITBUCKET_*",
    "SYSTEM_ACCESSTOKEN",
    "RECONCILER_*",
)
CREDENTIAL_DIRS_VARIABLE = "RECONCILER_CREDENTIAL_DIRS"


@dataclass(frozen=True)
class Resolution:
    values: dict[str, str]
    unresolved: dict[str, str]  # absent: the sandbox may stand in for these
    refused: dict[str, str]  # hostile or misplaced: refused everywhere, sandbox included

    def why(self, key: str) -> str | None:
        """Why ``key``'s reference was not read (refused, or absent); None when it was."""
        return self.refused.get(key) or self.unresolved.get(key)


def credential_dirs(environ: Mapping[str, str]) -> list[Path]:
    """``$RECONCILER_CREDENTIAL_DIRS``, then ``$CREDENTIALS_DIRECTORY`` (systemd), then
    ``~/.config/reconciler/credentials``; only the ones that exist, as real paths."""
    named = [d for d in environ.get(CREDENTIAL_DIRS_VARIABLE, "").split(os.pathsep) if d]
    if environ.get("CREDENTIALS_DIRECTORY"):
        named.append(environ["CREDENTIALS_DIRECTORY"])
    home = environ.get("HOME")
    if home:
        named.append(os.path.join(home, ".config", "reconciler", "credentials"))
    return [Path(d).resolve() for d in named if os.path.isabs(d) and os.path.isdir(d)]


def denied_variable(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in DENIED_VARIABLES)


def variable_refusal(name: str, permitted: Collection[str] = ()) -> str | None:
    """Why ``env:NAME`` may not be a credential whatever its value, or None."""
    if denied_variable(name) and name not in permitted:
        return f"${name} belongs to the CI platform or reconciler, not a provider"
    return None


def resolve(
    references: Mapping[str, str],
    *,
    root: Path,
    environ: Mapping[str, str],
    permitted: Collection[str] = (),
) -> Resolution:
    """Values for each reference, and the reason for each that cannot or may not be read;
    ``permitted``: variables of reconciler's own meant for these references."""
    result = Resolution({}, {}, {})
    dirs = credential_dirs(environ)
    for key, reference in references.items():
        kind, _, target = reference.partition(":")
        if kind == "env":
            _resolve_variable(key, target, environ, result, permitted)
        else:
            _resolve_file(key, target, dirs, root.resolve(), result)
    return result


def unsendable(value: str) -> str | None:
    """Why a credential value cannot go into an HTTP header, or None: printable ASCII on one
    line (a PEM block, such as a private key, may span lines). httpx raised
    UnicodeEncodeError on a non-ASCII token; never name the value itself."""
    if not value.isascii():
        return "holds a non-ASCII character (credentials are printable ASCII)"
    lines = value.splitlines() if value.startswith("-----BEGIN ") else [value]
    if not all(line.isprintable() for line in lines):
        return "holds a control character such as a line break or tab (credentials are one line)"
    return None


def _resolve_variable(
    key: str,
    name: str,
    environ: Mapping[str, str],
    result: Resolution,
    permitted: Collection[str] = (),
) -> None:
    value = environ.get(name)
    if refusal := variable_refusal(name, permitted):
        result.refused[key] = refusal
    elif not value:
        result.unresolved[key] = f"${name} is not set"
    elif why := unsendable(value):
        result.refused[key] = f"${name} {why}"
    else:
        result.values[key] = value


def _resolve_file(key: str, target: str, dirs: list[Path], root: Path, result: Resolution) -> None:
    path = _locate(target, dirs)
    if path is None:
        result.unresolved[key] = f"no file {target} in the credential directories"
        return
    real = path.resolve()
    if real.is_relative_to(root):
        result.refused[key] = f"file {target} is inside the repository (secrets stay out of git)"
    elif not any(real.is_relative_to(d) for d in dirs):
        result.refused[key] = (
            f"file {target} is outside the credential directories ({CREDENTIAL_DIRS_VARIABLE})"
        )
    else:
        value, why = read_bounded(real)
        why = why or ("is empty" if not value else unsendable(value))
        if why:
            result.refused[key] = f"file {target} {why}"
        else:
            result.values[key] = value


def _locate(target: str, dirs: list[Path]) -> Path | None:
    """An absolute (or ``~``) path as it is; a relative one in the first credential
    directory that has it."""
    expanded = os.path.expanduser(target)
    if os.path.isabs(expanded):
        return Path(expanded) if os.path.lexists(expanded) else None
    for directory in dirs:
        if os.path.lexists(directory / expanded):
            return directory / expanded
    return None


def read_bounded(path: Path) -> tuple[str, str | None]:
    """The file's text, or why it was not read: only a regular file of at most 4 KiB.

    O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the path was checked
    as resolved, so a symlink swapped in since is refused; fstat decides on what was opened.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return "", "cannot be opened"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "", "is not a regular file"
        data = b""
        while len(data) <= MAX_CREDENTIAL_BYTES and (
            chunk := os.read(fd, MAX_CREDENTIAL_BYTES + 1 - len(data))
        ):
            data += chunk
    except OSError:
        return "", "cannot be read"
    finally:
        os.close(fd)
    if len(data) > MAX_CREDENTIAL_BYTES:
        return "", f"is larger than {MAX_CREDENTIAL_BYTES} bytes"
    try:
        return data.decode("utf-8").strip(), None
    except UnicodeDecodeError:
        return "", "is not UTF-8 text"
