"""The sandbox's own API under ``/_sandbox``: health, the clock tests move, the faults injected."""

from __future__ import annotations

import math
from collections import Counter

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reconciler.sandbox.common import ApiProblem, parse_json
from reconciler.sandbox.store import Store

MAX_ADVANCE = 100 * 365 * 86400  # seconds: a clock far beyond stays within datetime's range


def control_routes(store: Store, injected: Counter[tuple[str, str]]) -> list[Route]:
    """``injected``: what the fault injector did so far, by (emulator, fault)."""

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "now": store.now()})

    async def clock(request: Request) -> Response:
        """``POST {"advance": seconds}`` moves every run forward: tests need no sleeping."""
        if request.method == "POST":
            try:
                body = parse_json(await request.body())
                seconds = float(body.get("advance", 0)) if isinstance(body, dict) else math.nan
            except (ApiProblem, TypeError, ValueError, OverflowError):
                seconds = math.nan
            if not math.isfinite(seconds) or abs(seconds) > MAX_ADVANCE:
                return JSONResponse({"message": '{"advance": seconds} expected'}, 400)
            store.advance(seconds)
        return JSONResponse({"now": store.now()})

    async def injected_faults(request: Request) -> Response:
        """``{emulator: {fault: count}}``."""
        counts: dict[str, dict[str, int]] = {}
        for (provider, kind), n in sorted(injected.items()):
            counts.setdefault(provider, {})[kind] = n
        return JSONResponse(counts)

    return [
        Route("/_sandbox/health", health),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/faults", injected_faults),
    ]
