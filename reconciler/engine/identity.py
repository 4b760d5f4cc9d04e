"""Revision and key of a spec: deterministic digests, so every applier computes the same ones."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def revision(*, instance: str, provider_type: str, job: Any, rerun: int, window: Any | None) -> str:
    """Digest of what changes the execution; labels, retry and state are not part of it."""
    document = {
        "instance": instance,
        "type": provider_type,
        "job": job,
        "rerun": rerun,
        "window": window,
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()[:16]


def spec_key(name: str, revision_digest: str) -> str:
    """Short digest of ``(name, revision)``: what tags the runs of this revision."""
    return hashlib.sha256(f"{name}\0{revision_digest}".encode()).hexdigest()[:16]


def following_key(key: str, followed: Mapping[str, str]) -> str:
    """Short digest of a spec's key and the upstream runs (their run keys) a run of it
    follows: a new successful upstream run makes a new downstream run, once."""
    upstream = "\0".join(f"{name}={run}" for name, run in sorted(followed.items()))
    return hashlib.sha256(f"{key}\0{upstream}".encode()).hexdigest()[:16]


def occurrence_key(name: str, revision_digest: str, occurrence: datetime) -> str:
    """Short digest of ``(name, revision, occurrence)``: what tags the runs of one occurrence
    of a scheduled spec, so each occurrence starts once whoever applies it."""
    at = occurrence.astimezone(UTC).isoformat()
    return hashlib.sha256(f"{name}\0{revision_digest}\0{at}".encode()).hexdigest()[:16]
