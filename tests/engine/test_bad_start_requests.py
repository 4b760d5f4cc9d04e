"""A start request an adapter cannot build is named in words, before any request: what is
wrong with the value, never the Python class of what the adapter raised (issue 12). The jobs
here are hand-made past the models' bounds, as a plugin adapter or a future field could let
one through. (A lone surrogate or a deeply nested value cannot get this far: the spec's
revision digest is computed first, and the spec loader refuses both at their line.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from reconciler.engine.apply import unsendable_starts
from reconciler.engine.plan import plan_actions
from reconciler.providers.base import Provider
from reconciler.state.model import new_lockfile
from tests.engine.test_plan import spec
from tests.providers.test_vonage import make as vonage
from tests.providers.test_xplenty import make as xplenty

XPLENTY = {"cluster_id": 1, "package_id": 2}
CLASSES = ("Error", "Exception", "Overflow", "KeyError")


@pytest.mark.parametrize(
    ("kind", "job", "why"),
    [
        pytest.param(
            "xplenty",
            {**XPLENTY, "variables": {"A": float("inf")}},
            "a number is not finite (NaN or infinity), which JSON cannot carry",
            id="infinity",
        ),
        pytest.param(
            "xplenty",
            {**XPLENTY, "variables": {"A": {1, 2}}},
            "a value is of a kind JSON cannot carry",
            id="not-json",
        ),
        pytest.param(
            "vonage",
            {"job_id": "j", "duration": 10**20},
            "a number, duration or date is out of the range the request can carry",
            id="overflow",
        ),
        pytest.param("vonage", {"duration": 60}, "the job has no 'job_id'", id="missing-key"),
    ],
)
def test_an_unbuildable_start_is_one_line_in_words(
    kind: str, job: dict[str, Any], why: str
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    transport = httpx.MockTransport(handler)
    provider: Provider = (
        xplenty("https://api.xplenty.com/acme/api", transport=transport)
        if kind == "xplenty"
        else vonage("https://api.example.com", transport)
    )
    planned = plan_actions(
        [spec("good"), spec("bad", job)],
        new_lockfile(),
        {},
        now=datetime.now(UTC),
        prune=False,
        unreachable={},
    )
    problems = unsendable_starts(planned.actions, {"etl": provider})
    if kind == "vonage":  # the good spec is an Xplenty job: Vonage cannot build it either
        problems = [p for p in problems if p.startswith("start bad:")]
    assert problems == [f"start bad: its start request cannot be built: {why}; nothing was done"]
    assert not any(name in problems[0] for name in CLASSES)
    assert sent == []
