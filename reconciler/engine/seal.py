"""Seal of a saved plan: a digest over its content, and an HMAC when a signing key is given.

``apply PLANFILE`` performs what the file says; the seal makes an edit of the file (an action,
a record, anything apply acts on) evident. The digest alone stops edits by hand or by a tool
that does not know to recompute it; only the HMAC stops a forger who does, which is why a
team that signs sets the key for ``apply`` too. Pure: the key is an argument.
"""

from __future__ import annotations

import hashlib
import hmac

from reconciler.engine.actions import Plan
from reconciler.engine.identity import canonical_json

# The seal's own fields: everything else in the document is covered by it.
_SEAL_FIELDS = frozenset({"digest", "signature"})


def plan_content(plan: Plan) -> bytes:
    """The canonical bytes the seal covers: the whole document except the seal itself."""
    document = plan.model_dump(mode="json", by_alias=True, exclude=set(_SEAL_FIELDS))
    return canonical_json(document).encode()


def plan_signature(content: bytes, key: bytes) -> str:
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def sealed(plan: Plan, key: bytes | None) -> Plan:
    """``plan`` with its digest, and its signature when a key is given."""
    content = plan_content(plan)
    return plan.model_copy(
        update={
            "digest": hashlib.sha256(content).hexdigest(),
            "signature": plan_signature(content, key) if key is not None else None,
        }
    )


def seal_problem(plan: Plan, key: bytes | None) -> str | None:
    """Why ``plan`` cannot be trusted as it was made, or None. With a key, only a plan signed
    with that key is trusted; without one, an intact digest is enough."""
    if plan.digest is None:
        return "it carries no digest: only a plan saved by `reconciler plan -o` can be applied"
    content = plan_content(plan)
    if not hmac.compare_digest(plan.digest, hashlib.sha256(content).hexdigest()):
        return "it was edited after it was made: its digest does not match its content"
    if key is None:
        return None
    if plan.signature is None:
        return "it is not signed, and a signing key is set: make it with the key"
    if not hmac.compare_digest(plan.signature, plan_signature(content, key)):
        return "its signature does not match: it was signed with another key, or edited after"
    return None
