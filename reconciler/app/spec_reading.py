"""A repository's spec files read on every core: shared out among forked processes by
their bytes (``app.forked``), each part read and validated alone, then checked together
(``source.specs``). ``validate`` counts them here without making desired runs, and so
without importing what planning needs (issue 20: its start-up is the pre-commit hook's)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from reconciler.app.collection import bulk_allocation
from reconciler.app.forked import MAX_PROCESSES, Forked, cores
from reconciler.providers.registry import provider_types
from reconciler.source.specs import (
    LoadedSpec,
    SpecBatch,
    checked_specs,
    read_spec_batch,
    spec_files,
)

if TYPE_CHECKING:
    from reconciler.app.workspace import Workspace

T = TypeVar("T")


def count_valid_specs(ws: Workspace) -> int:
    """``validate``: every spec read and checked as for ``load_desired`` (one InputError with
    every problem), none made into a desired run (revisions and keys are for planning)."""
    paths, outside = spec_files(ws.root, ws.config.specs)
    reading = read_specs(ws, paths, file_sizes(file_stats(paths)), _name, here=True)
    with bulk_allocation():
        return len(checked_specs(ws.root, ws.config, reading.results(), outside))


def read_specs(
    ws: Workspace,
    paths: Sequence[Path],
    sizes: Sequence[int],
    made: Callable[[LoadedSpec], T],
    here: bool,
) -> Forked[Sequence[Path], SpecBatch[T]]:
    """The spec files ``paths`` (of ``sizes`` bytes) being read, each spec ``made`` into what
    the caller keeps: in forked processes by shares of equal bytes, the last here, or with
    ``here=False`` all of them in children."""
    providers = provider_types()
    root, config = ws.root, ws.config

    def read(part: Sequence[Path]) -> SpecBatch[T]:
        return read_spec_batch(root, config, providers, part, made)

    with bulk_allocation():  # the children read without the cycle collector too
        return Forked(read, shares(paths, sizes), here=here)


def _name(spec: LoadedSpec) -> str:
    return spec.run.metadata.name


def file_stats(paths: Sequence[Path]) -> list[os.stat_result | None]:
    """Each file's stat; None for one that cannot be stat'ed now (told when it is read)."""
    found: list[os.stat_result | None] = []
    for path in paths:
        try:
            found.append(path.stat())
        except OSError:
            found.append(None)
    return found


def file_sizes(stats: Sequence[os.stat_result | None]) -> list[int]:
    return [0 if info is None else info.st_size for info in stats]


# Spec files are shared out among processes by their bytes, at least this many to each: a
# part is ~60 ms of parsing and validating, well above forking and pickling (issue 20).
MIN_BYTES_PER_PROCESS = 256 * 1024


def shares(paths: Sequence[Path], sizes: Sequence[int]) -> list[Sequence[Path]]:
    """The files (of ``sizes`` bytes) in runs of about equal bytes, one to a process (in the
    order given, so that problems come in it), none smaller than ``MIN_BYTES_PER_PROCESS``."""
    total = sum(sizes)
    count = max(1, min(cores(), MAX_PROCESSES, total // MIN_BYTES_PER_PROCESS))
    parts: list[Sequence[Path]] = []
    start, taken = 0, 0
    for index, size in enumerate(sizes):
        taken += size
        if taken * count >= total * (len(parts) + 1) and len(parts) < count - 1:
            parts.append(paths[start : index + 1])
            start = index + 1
    parts.append(paths[start:])
    return parts
