"""Digests of what a saved plan was made from: the config and specs, and the lockfile."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache

from pydantic import TypeAdapter

from reconciler.engine.desired import DesiredRun
from reconciler.engine.identity import canonical_json
from reconciler.spec.models import Config
from reconciler.state.model import Lockfile, RunRecord

# Entries dumped in one call: few calls, and no dump of them all at once (issue 20).
_DIGEST_BATCH = 1000


@cache
def _desired_list() -> TypeAdapter[list[DesiredRun]]:
    return TypeAdapter(list[DesiredRun])  # built when first used: by commands that digest


@cache
def _named_records() -> TypeAdapter[list[tuple[str, RunRecord]]]:
    return TypeAdapter(list[tuple[str, RunRecord]])


def specs_digest(config: Config, desired: Sequence[DesiredRun]) -> str:
    """Digest of what a saved plan was made from: the config (references only, never
    secrets) and every spec, in order. A plan applies only with the release that made it, so
    the digest is of pydantic's JSON of the desired runs, a thousand at a time (100,000 specs:
    ~0.5 s, where canonical JSON with sorted keys took ~1.7 s)."""
    digest = hashlib.sha256(_canonical(config.model_dump(mode="json")))
    for start in range(0, len(desired), _DIGEST_BATCH):
        digest.update(_desired_list().dump_json(list(desired[start : start + _DIGEST_BATCH])))
    return digest.hexdigest()


def lockfile_digest(lock: Lockfile) -> str:
    """Digest of the state a saved plan was made from: its content, not its formatting (the
    records by name, each as pydantic writes it; the rest in canonical JSON)."""
    digest = hashlib.sha256(_canonical(lock.model_dump(mode="json", exclude={"runs"})))
    names = sorted(lock.runs)
    for start in range(0, len(names), _DIGEST_BATCH):
        batch = [(name, lock.runs[name]) for name in names[start : start + _DIGEST_BATCH]]
        digest.update(_named_records().dump_json(batch))
    return digest.hexdigest()


def _canonical(value: object) -> bytes:
    return canonical_json(value).encode()
