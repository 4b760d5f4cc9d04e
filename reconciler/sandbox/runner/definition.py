"""What the Runner API takes in a request: a job definition, hosts, a signal's expiry (KB)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from typing import Any

from reconciler.sandbox.common import INT32_MAX, ApiProblem, is_int


def hosts_valid(value: Any) -> bool:
    """Hosts entities: objects with a string ``id`` (KB, Hosts Entity)."""
    return isinstance(value, list) and all(
        isinstance(h, dict) and isinstance(h.get("id"), str) and h["id"] for h in value
    )


def ssh_key_digest(value: Any) -> str:
    """The SHA-256 of a start's ``sshPrivateKey`` (S2: "SSH private key (*base64 encoded*)"):
    base64 of a PEM private key, else a 400. The emulator keeps the digest, never the key."""
    try:
        key = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        key = b""
    pem = key.decode("ascii", "replace")
    if not (pem.startswith("-----BEGIN ") and "PRIVATE KEY-----" in pem):
        raise ApiProblem(400, "sshPrivateKey must be a base64-encoded SSH private key")
    return hashlib.sha256(key).hexdigest()


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def job_definition(body: dict[str, Any]) -> dict[str, Any]:
    """A job definition as Create/Update Job take it (KB, Content Properties): the playbook from
    a repository or inline (one of them), hosts required, typed optional fields; else a 400."""
    problems = _playbook_problems(body)
    if not hosts_valid(body.get("hosts")):
        problems.append("hosts is required: a list of objects with an id")
    ttl = body.get("executionTtl")
    if ttl is not None and not (is_int(ttl) and 0 < ttl <= INT32_MAX):
        problems.append("executionTtl must be a positive integer of minutes")
    callbacks = body.get("callbacks", [])
    if not isinstance(callbacks, list) or not all(
        isinstance(c, dict) and isinstance(c.get("url"), str) for c in callbacks
    ):
        problems.append("callbacks must be a list of objects with a url")
    for name, valid in (
        ("description", isinstance(body.get("description", ""), str)),
        ("playbookTags", _strings(body.get("playbookTags", []))),
        ("properties", isinstance(body.get("properties", {}), dict)),
        ("sshPrivateKey", isinstance(body.get("sshPrivateKey", ""), str)),
        ("useDynamicInventory", isinstance(body.get("useDynamicInventory", False), bool)),
    ):
        if not valid:
            problems.append(f"{name} has the wrong type")
    if problems:
        raise ApiProblem(400, "Invalid job: " + "; ".join(problems))
    return body


def _playbook_problems(body: dict[str, Any]) -> list[str]:
    problems = []
    repository, playbook = body.get("repository"), body.get("playbook")
    if (repository is None) == (playbook is None):
        problems.append("exactly one of repository and playbook is required")
    if repository is not None and not (
        isinstance(repository, dict)
        and all(isinstance(repository.get(k), str) for k in ("url", "defaultPlaybook"))
        and isinstance(repository.get("branch", ""), str)
    ):
        problems.append("repository needs url and defaultPlaybook strings")
    if playbook is not None and not isinstance(playbook, str):
        problems.append("playbook must be a base64 string")
    return problems


def expiry(value: Any) -> float:
    """A stop or kill signal's ``expiryDuration``: a number of seconds, default 0 (KB)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiProblem(400, "expiryDuration must be a number of seconds")
    if not (math.isfinite(value) and 0 <= value <= INT32_MAX):
        raise ApiProblem(400, f"expiryDuration must be between 0 and {INT32_MAX} seconds")
    return float(value)
