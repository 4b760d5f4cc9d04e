"""Fault injection for the emulators: an ASGI middleware in front of every provider prefix.

A dropped connection is a response that starts and never finishes: the server closes the
socket and the client sees the peer disconnect. ``drops_after`` lets the API act first, which
is the worst case for a start: the run exists, and the client does not know it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.sandbox.seed import Faults

STOP_MARKERS = ("/stop", "/kill", "/stopped")


class DroppedConnection(Exception):
    """Raised after a response has started, so that the server closes the connection."""


class FaultInjector:
    """Injects the seed's faults; ``injected`` counts them by (provider, seed field name)."""

    def __init__(self, app: ASGIApp, faults: Mapping[str, Faults], seed: int | None = None) -> None:
        self.app = app
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
            ("server_errors", faults.server_errors, self._server_error),
            ("rate_limited", faults.rate_limited, self._rate_limited),
            ("drops", faults.drops, self._drop),
        ]
        for kind, share, answer in bands:
            if draw < share:
                self.injected[provider, kind] += 1
                await answer(send, faults)
                return
            draw -= share
        if draw < faults.drops_after:
            self.injected[provider, "drops_after"] += 1
            await self.app(scope, receive, _swallow)  # the API acts; its answer is lost
            await self._drop(send, faults)
            return
        await self.app(scope, receive, send)

    async def _server_error(self, send: Send, faults: Faults) -> None:
        await _json(
            send,
            503,
            {
                "message": "Service Unavailable (sandbox fault)",
                "title": "Service Unavailable",
                "detail": "sandbox fault",
            },
            {},
        )

    async def _rate_limited(self, send: Send, faults: Faults) -> None:
        body = {
            "message": "Rate Limit Exceeded (sandbox fault)",
            "title": "Too Many Requests",
            "detail": "sandbox fault",
        }
        await _json(send, 429, body, {"retry-after": str(faults.retry_after)})

    async def _drop(self, send: Send, faults: Faults) -> None:
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


async def _json(send: Send, status: int, body: object, headers: dict[str, str]) -> None:
    raw = json.dumps(body).encode()
    pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    pairs += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": raw})
