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

from pydantic import Field
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.sandbox.common import ApiProblem, SeedModel

STOP_MARKERS = ("/stop", "/kill", "/stopped")
SERVER_ERROR = "Service Unavailable (sandbox fault)"
RATE_LIMITED = "Rate Limit Exceeded (sandbox fault)"


class Faults(SeedModel):
    """Faults injected into one provider's API: shares are probabilities per request."""

    latency: float = Field(default=0.0, ge=0, description="Seconds added to every answer.")
    jitter: float = Field(default=0.0, ge=0, description="Up to this many seconds more, at random.")
    server_errors: float = Field(default=0.0, ge=0, le=1, description="Share answered 503.")
    rate_limited: float = Field(default=0.0, ge=0, le=1, description="Share answered 429.")
    retry_after: int = Field(default=1, ge=0, description="Retry-After of injected 429s, seconds.")
    drops: float = Field(
        default=0.0, ge=0, le=1, description="Share whose connection drops before the API acts."
    )
    drops_after: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share the API acts on, then drops the connection: the client never "
        "sees the answer (the worst case for a start).",
    )
    slow_stop: float = Field(default=0.0, ge=0, description="Seconds added to stop requests.")


class DroppedConnection(Exception):
    """Raised after a response has started, so that the server closes the connection."""


Render = Callable[[Scope, ApiProblem], Response]
Owner = Callable[[str], str | None]  # the emulator a path is under, by name


class FaultInjector:
    """Injects the seed's faults into the emulator ``owner`` finds for a path; ``injected``
    counts them by (emulator, seed field name). ``render`` answers an injected error in the
    API's own format (else a generic JSON body)."""

    def __init__(
        self,
        app: ASGIApp,
        faults: Mapping[str, Faults],
        owner: Owner,
        render: Render | None = None,
        injected: Counter[tuple[str, str]] | None = None,
    ) -> None:
        self.app = app
        self.owner = owner
        self.render = render
        self.faults = dict(faults)
        self.random = random.Random()
        self.injected = Counter[tuple[str, str]]() if injected is None else injected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = self.owner(scope["path"]) if scope["type"] == "http" else None
        faults = self.faults.get(provider or "")
        if provider is None or faults is None:
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
