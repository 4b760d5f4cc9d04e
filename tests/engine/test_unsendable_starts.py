"""A start whose request its adapter cannot build or send stops the apply before its first
action, naming the spec (here a value no JSON body can carry, as a hand-made job could hold)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from reconciler.engine.apply import unsendable_starts
from reconciler.engine.plan import plan_actions
from reconciler.state.model import new_lockfile
from tests.engine.test_plan import spec
from tests.providers.test_xplenty import make


def test_a_start_that_cannot_be_encoded_is_named_before_any_request() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    provider = make("https://api.xplenty.com/acme/api", transport=httpx.MockTransport(handler))
    good = spec("good")
    bad = spec("bad", {"cluster_id": 1, "package_id": 2, "variables": {"A": float("nan")}})
    planned = plan_actions(
        [good, bad], new_lockfile(), {}, now=datetime.now(UTC), prune=False, unreachable={}
    )
    assert unsendable_starts(planned.actions, {"etl": provider}) == [
        "start bad: its start request cannot be built: a number is not finite (NaN or "
        "infinity), which JSON cannot carry; nothing was done"
    ]
    assert sent == []
