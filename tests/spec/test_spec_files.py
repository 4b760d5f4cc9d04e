"""``spec_files`` walks each spec directory once and resolves only links (issue 20): the same
files, in the same order, with the same problems as resolving every path ``rglob`` found,
over a tree of every kind of entry."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.errors import Problem, display_path
from reconciler.source.specs import SPEC_SUFFIXES, spec_files


def by_rglob(root: Path, directories: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    """The walk as it was: every path found by ``rglob``, each resolved."""
    files: set[Path] = set()
    for directory in dict.fromkeys(directories):
        base = root / directory
        if base.is_file():
            files.add(base)
            continue
        for suffix in SPEC_SUFFIXES:
            files.update(p for p in base.rglob(f"*{suffix}") if not p.is_dir())
    inside, problems = [], []
    top = root.resolve()
    seen: set[Path] = set()
    for path in sorted(files):
        target = path.resolve()
        if target in seen:
            continue
        seen.add(target)
        if top not in target.parents:
            reason = f"leads outside the repository (to {target}); not read"
            problems.append(Problem(display_path(path), None, None, "", reason))
        elif not target.is_file():
            problems.append(
                Problem(display_path(path), None, None, "", "not a regular file; not read")
            )
        else:
            inside.append(path)
    return inside, problems


def test_the_same_files_and_problems_as_resolving_every_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    root = tmp_path / "repo"
    for directory in ("outside/deep", "repo/specs/a/b", "repo/specs/.hidden", "repo/more"):
        (tmp_path / directory).mkdir(parents=True)
    for name in ("outside/x.yaml", "outside/deep/y.yml"):
        (tmp_path / name).write_text("a: 1\n")
    specs = root / "specs"
    for name in (
        "one.yaml",
        "two.yml",
        "a/three.yaml",
        "a/b/four.yaml",
        ".hidden/five.yaml",
        "notes.txt",
        "a/.yaml",
        "UPPER.YAML",
    ):
        (specs / name).write_text("a: 1\n")
    (specs / "dir.yaml").mkdir()  # a directory with a spec's name: walked, not read
    (specs / "dir.yaml" / "inner.yaml").write_text("a: 1\n")
    (specs / "alias.yaml").symlink_to(specs / "one.yaml")  # read once
    (specs / "away.yaml").symlink_to(outside / "x.yaml")
    (specs / "broken.yaml").symlink_to(specs / "missing.yaml")
    (specs / "linked-dir").symlink_to(outside)  # not walked
    (specs / "linked.yaml").symlink_to(root / "more")  # a link to a directory
    (root / "more" / "six.yaml").write_text("a: 1\n")
    os.mkfifo(specs / "pipe.yaml")
    (root / "via").symlink_to(specs / "a")  # a spec directory that is a link: walked
    (root / "single.yaml").write_text("a: 1\n")
    monkeypatch.chdir(root)  # problems name paths from here
    for directories in (
        ["specs"],
        ["specs", "specs/a", "more"],
        ["via", "single.yaml", "missing-dir"],
        ["specs/../specs"],
    ):
        assert spec_files(root, directories) == by_rglob(root, directories), directories
    found, problems = spec_files(root, ["specs", "more"])
    assert [p.relative_to(root).as_posix() for p in found] == [
        "more/six.yaml",
        "specs/.hidden/five.yaml",
        "specs/a/.yaml",
        "specs/a/b/four.yaml",
        "specs/a/three.yaml",
        "specs/alias.yaml",  # first of the two paths to one.yaml
        "specs/dir.yaml/inner.yaml",
        "specs/two.yml",
    ]
    assert [p.file for p in problems] == ["specs/away.yaml", "specs/broken.yaml", "specs/pipe.yaml"]
