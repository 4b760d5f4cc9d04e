"""`watch --webhook-secret`: `POST /api/webhook` from a git host begins a cycle now instead of
at the next interval (Argo CD's `/api/webhook`). The sender is verified by the shared secret,
compared in constant time: GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the body, also what
a generic sender should send) or GitLab's `X-Gitlab-Token` (the secret itself). The body says
nothing the cycle uses: the cycle reads the repository (`--pull` fetches it) as on a timer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

from reconciler.errors import UsageError
from reconciler.providers.credentials import resolve

SECRET_VARIABLE = "RECONCILER_WEBHOOK_SECRET"  # the one variable of reconciler's own allowed
MAX_BODY = 1 << 20  # bytes; GitHub caps its payloads at 25 MB, but a push's is far smaller


def webhook_secret(reference: str, *, root: Path, environ: Mapping[str, str]) -> bytes:
    """The secret ``reference`` (``env:NAME`` or ``file:PATH``) names, by the credential
    rules (never a literal, a CI platform's variable, or a file inside the repository)."""
    if not reference.startswith(("env:", "file:")):
        raise UsageError(
            "--webhook-secret takes a reference, env:NAME or file:PATH, not the secret itself"
        )
    found = resolve({"secret": reference}, root=root, environ=environ, permitted=(SECRET_VARIABLE,))
    why = found.why("secret")
    if why is not None:
        raise UsageError(f"--webhook-secret {reference}: {why}")
    value = found.values["secret"]
    if len(value) < 16:
        raise UsageError(f"--webhook-secret {reference}: shorter than 16 characters")
    return value.encode()


def verified(secret: bytes, body: bytes, *, signature: str | None, token: str | None) -> bool:
    """Whether the request comes from someone who holds ``secret``: its ``signature``
    (``X-Hub-Signature-256``) or else its ``token`` (``X-Gitlab-Token``)."""
    if signature is not None:
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.encode(), expected.encode())
    if token is not None:
        return hmac.compare_digest(token.encode(), secret)
    return False
