"""The CLC v2 login (CAPI ``authentication/login``): a user name and password for a bearer token
valid for the seed's ``token_ttl``."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request

from reconciler.sandbox.common import ApiProblem, form_or_json
from reconciler.sandbox.runner.seed import RunnerSeed
from reconciler.sandbox.store import Store


async def login(store: Store, seed: RunnerSeed, request: Request) -> dict[str, Any]:
    """The login's answer; JSON as documented, or a form as CenturyLink's own SDKs post it."""
    body = await form_or_json(request)
    user, password = body.get("username"), body.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise ApiProblem(400, "username and password are required strings")
    if seed.users is None:
        ok, alias = bool(user and password), "SBOX"
    else:
        known = seed.users.get(user)
        ok = known is not None and known.password == password
        alias = known.account_alias if known else ""
    if not ok:
        raise ApiProblem(400, "Invalid username or password")
    token = uuid.uuid4().hex + uuid.uuid4().hex
    with store.transaction() as db:
        db.execute(
            "INSERT INTO runner_tokens VALUES (?, ?, ?, ?)",
            (token, alias, user, store.now() + seed.token_ttl),
        )
    return {
        "userName": user,
        "accountAlias": alias,
        "locationAlias": "VA1",
        "roles": ["AccountAdmin"],
        "bearerToken": token,
    }
