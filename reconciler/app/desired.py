"""The specs as desired runs: read once while no spec file changes, on every core."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.app.collection import bulk_allocation
from reconciler.app.forked import Forked
from reconciler.app.spec_reading import file_sizes, file_stats, read_specs
from reconciler.app.workspace import Workspace
from reconciler.engine.desired import DesiredRun, desired_run
from reconciler.errors import Problem
from reconciler.source.specs import LoadedSpec, SpecBatch, checked_specs, spec_files


def load_desired(ws: Workspace) -> list[DesiredRun]:
    """The specs as desired runs; read once while no spec file changes (``--sandbox`` checks
    them before its sandbox writes anything, then the command plans from them; ``watch``
    reads again only what a commit or an edit changed)."""
    return begin_desired(ws).runs()


def begin_desired(ws: Workspace, *, here: bool = True) -> DesiredReading:
    """``load_desired``, begun now: a large repository's spec files are shared out among
    forked processes at once (``here=False``: all of them, so that this process is free to
    wait on APIs meanwhile), their results collected by ``runs``."""
    paths, outside = spec_files(ws.root, ws.config.specs)  # walked once: key and read
    found = file_stats(paths)  # and each file's stat taken once: key and shares
    key = _fingerprint(paths, found)
    cached = ws.desired_cache.get(key)
    if cached is not None:
        return DesiredReading(ws, key, outside, None, cached)
    ws.desired_cache.clear()
    forked = read_specs(ws, paths, file_sizes(found), _desired, here)
    return DesiredReading(ws, key, outside, forked, None)


def _desired(spec: LoadedSpec) -> DesiredRun:
    return desired_run(
        spec.run,
        job=spec.job,
        provider_type=spec.provider.name,
        file=spec.file,
        scope=spec.scope,
        traits=spec.provider.traits,
    )


@dataclass
class DesiredReading:
    """Desired runs being read (``begin_desired``)."""

    ws: Workspace
    key: tuple[object, ...]
    outside: list[Problem]  # spec files not read: outside the repository, or not files
    forked: Forked[Sequence[Path], SpecBatch[DesiredRun]] | None
    done: list[DesiredRun] | None

    def close(self) -> None:
        """The reading given up: its processes stopped."""
        if self.forked is not None:
            self.forked.close()

    def runs(self) -> list[DesiredRun]:
        """The desired runs, sorted by name; or one InputError with every problem."""
        if self.done is None:
            assert self.forked is not None
            with bulk_allocation():
                batches = self.forked.results()
                self.done = checked_specs(self.ws.root, self.ws.config, batches, self.outside)
            self.ws.desired_cache[self.key] = self.done
        return list(self.done)


def _fingerprint(
    files: Sequence[Path], stats: Sequence[os.stat_result | None]
) -> tuple[object, ...]:
    """Each spec file's identity, size and modification time: what changes with its text."""
    found: list[object] = []
    for path, info in zip(files, stats, strict=True):
        if info is None:
            return (object(),)  # unreadable now: read again, and report it
        found.append((str(path), info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(found)
