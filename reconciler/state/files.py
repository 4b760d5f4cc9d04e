"""The state's own files, opened safely: never through a symbolic link, every OS error one line.

A pull request controls the repository's content, symbolic links included: a committed link
``reconciler.lock.lck -> ~/.bashrc`` must not make the next apply truncate the target. So the
last component of every state path is opened with ``O_NOFOLLOW`` (a link is refused, ``ELOOP``),
and the directories above it are checked to resolve inside the repository, unless the path
came from the command line (``--lockfile``), which the repository does not control.

An OS error on these files (a read-only repository, a full disk, a lockfile replaced by a
directory) is bad input, not a bug: ``StateError`` with the file and the cause, exit 1.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import InputError, Problem, StateError, display_path

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class StateFiles:
    """Where one state lives: the lockfile and the files named after it."""

    lockfile: Path
    # Whether the lockfile path came from the command line, not from the repository.
    chosen_outside: bool = False

    @property
    def journal(self) -> Path:
        return self.lockfile.with_name(self.lockfile.name + ".journal")

    @property
    def lock(self) -> Path:
        return self.lockfile.with_name(self.lockfile.name + ".lck")

    @property
    def temp_pattern(self) -> str:
        """The names of atomic-write temp files (``write_atomic``), for cleanup and .gitignore."""
        return f".{self.lockfile.name}.*.tmp"

    def all(self) -> tuple[Path, ...]:
        return (self.lockfile, self.journal, self.lock)


def escapes(root: Path, path: Path) -> Path | None:
    """Where ``path``'s directory really is, when that is outside ``root``; else None."""
    real = path.parent.resolve()
    return None if real.is_relative_to(root.resolve()) else real


def check_state_files(root: Path, files: StateFiles) -> None:
    """Refuse, one line per file, state files that are links or lie outside the repository."""
    problems = []
    outside = None if files.chosen_outside else escapes(root, files.lockfile)
    if outside is not None:
        why = (
            f"its directory leads outside the repository (to {outside}); state files stay in "
            "the repository unless --lockfile says otherwise"
        )
        problems.append(Problem(display_path(files.lockfile), None, None, "", why))
    for path in files.all():
        if path.is_symlink():
            problems.append(
                Problem(display_path(path), None, None, "", f"{_LINK}; remove the link")
            )
    if problems:
        raise InputError(problems)


_LINK = "is a symbolic link, and state files are never opened through one"


def cause(exc: OSError) -> str:
    """Why an OS call on a state file failed, in words."""
    if exc.errno == errno.ELOOP:
        return _LINK
    return exc.strerror or str(exc)


def state_error(path: Path, doing: str, exc: OSError) -> StateError:
    return StateError(f"cannot {doing} {display_path(path)}: {cause(exc)}")


@contextlib.contextmanager
def os_errors(path: Path, doing: str) -> Iterator[None]:
    """OS errors inside become one ``StateError`` naming ``path`` and the cause."""
    try:
        yield
    except OSError as exc:
        raise state_error(path, doing, exc) from None


def open_state(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that never follows a link at ``path`` and refuses what is not a file."""
    with os_errors(path, "open"):
        fd = os.open(path, flags | NOFOLLOW | CLOEXEC, mode)
    try:
        with os_errors(path, "open"):
            if not _is_regular(fd):
                raise OSError(errno.EINVAL, "not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def read_state_text(path: Path) -> str | None:
    """The text of a state file, or None when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise state_error(path, "read", exc) from None
    with contextlib.closing(_Descriptor(fd)), os_errors(path, "read"):
        if not _is_regular(fd):
            raise OSError(errno.EINVAL, "not a regular file")
        data = _read_all(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateError(
            f"cannot read {display_path(path)}: not UTF-8 text ({exc.reason})"
        ) from None


class _Descriptor:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def close(self) -> None:
        os.close(self.fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def remove_state(path: Path) -> None:
    with os_errors(path, "remove"):
        path.unlink(missing_ok=True)


def write_atomic(path: Path, text: str | Iterable[str], *, leftovers: str | None = None) -> None:
    """Replace ``path`` with ``text`` (or its pieces, in turn) so that readers see the old or
    the new file, never a mix.

    ``leftovers``: a glob of temp files that a killed earlier write may have left beside
    ``path``; removed first (the caller holds the state lock, so none is in use)."""
    if leftovers is not None:
        for stale in glob.glob(glob.escape(str(path.parent)) + os.sep + leftovers):
            with contextlib.suppress(OSError):
                os.unlink(stale)  # a link is removed, never followed
    with os_errors(path, "write"):
        _replace(path, text)


def _replace(path: Path, text: str | Iterable[str]) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a lockfile is committed
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines([text] if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)  # a link at ``path`` is replaced, not followed
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def check_writable(path: Path) -> None:
    """Before the first action: ``path`` can be replaced (its directory takes a new file) and,
    if it exists, opened for writing (not a directory, not immutable, not read-only)."""
    if os.path.lexists(path):
        fd = open_state(path, os.O_WRONLY)
        os.close(fd)
    with os_errors(path, "write beside"):
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.unlink(temp)
