"""Fault injection for the emulators: an ASGI middleware in front of every provider prefix.

A dropped connection is a response that starts and never finishes: the server closes the
socket and the client sees the peer disconnect. ``drops_after`` lets the API act first, which
is the worst case for a start: the run exists, and the client does not know it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Mapping

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.sandbox.common import ApiProblem
from reconciler.sandbox.seed import Faults

STOP_MARKERS = ("/stop", "/kill", "/stopped")
SERVER_ERROR = "Service Unavailable (sandbox fault)"
RATE_LIMITED = "Rate Limit Exceeded (sandbox fault)"


class DroppedConnection(Exception):
    """Raised after a response has started, so that the server closes the connection."""


Render = Callable[[Scope, ApiProblem], Response]


class FaultInjector:
    """Injects the seed's faults; ``injected`` counts them by (provider, seed field name).
    ``render`` answers an injected error in the API's own format (else a generic JSON body)."""

    def __init__(
        self,
        app: ASGIApp,
        faults: Mapping[str, Faults],
        seed: int | None = None,
        render: Render | None = None,
    ) -> None:
        self.app = app
        self.render = render
        self.faults = dict(faults)
        self.random = random.Random(seed)
        self.injected: Counter[tuple[str, str]] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = scope["path"].strip("/").split("/", 1)[0] if scope["type"] == "http" else ""
        faults = self.faults.get(provider)
        if faults is None:
            await self.app(scope, receive, send)
            return
        delay = faults.latency + self.random.random() * faults.jitter
        if _is_stop(scope):
            delay += faults.slow_stop
        if delay:
            await asyncio.sleep(delay)
        draw = self.random.random()
        bands = [
            ("server_errors", faults.server_errors, ApiProblem(503, SERVER_ERROR)),
            (
                "rate_limited",
                faults.rate_limited,
                ApiProblem(429, RATE_LIMITED, {"Retry-After": str(faults.retry_after)}),
            ),
        ]
        for kind, share, problem in bands:
            if draw < share:
                self.injected[provider, kind] += 1
                await self._problem(scope, problem)(scope, receive, send)
                return
            draw -= share
        if draw < faults.drops:
            self.injected[provider, "drops"] += 1
            await self._drop(send)
            return
        draw -= faults.drops
        if draw < faults.drops_after:
            self.injected[provider, "drops_after"] += 1
            await self.app(scope, receive, _swallow)  # the API acts; its answer is lost
            await self._drop(send)
            return
        await self.app(scope, receive, send)

    def _problem(self, scope: Scope, problem: ApiProblem) -> Response:
        if self.render is not None:
            return self.render(scope, problem)
        body = {"message": problem.message, "title": problem.message, "detail": "sandbox fault"}
        return JSONResponse(body, problem.status, problem.headers)

    async def _drop(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
        )
        raise DroppedConnection("sandbox fault: connection dropped")


def _is_stop(scope: Scope) -> bool:
    path = scope["path"]
    return scope["method"] in ("POST", "PUT", "DELETE") and (
        path.endswith(STOP_MARKERS) or (scope["method"] == "DELETE" and "/jobs/" in path)
    )


async def _swallow(message: Message) -> None:
    return None
