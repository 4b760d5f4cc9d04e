"""The sandbox ASGI app: one origin, a prefix per provider, and a small control API."""

from __future__ import annotations

import math
from email.utils import formatdate
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.sandbox.common import ApiProblem, parse_json
from reconciler.sandbox.faults import FaultInjector
from reconciler.sandbox.matatika import MatatikaEmulator
from reconciler.sandbox.runner import RunnerEmulator
from reconciler.sandbox.seed import Faults, Seed
from reconciler.sandbox.store import Store
from reconciler.sandbox.vonage import VonageEmulator
from reconciler.sandbox.xplenty import XplentyEmulator

MAX_ADVANCE = 100 * 365 * 86400  # seconds: a clock far beyond stays within datetime's range


class Emulator(Protocol):
    def problem_response(self, request: Request, problem: ApiProblem) -> Response: ...


def create_app(store: Store, seed: Seed) -> ASGIApp:
    xplenty = XplentyEmulator(store, seed.xplenty)
    vonage = VonageEmulator(store, seed.vonage)
    runner = RunnerEmulator(store, seed.runner)
    matatika = MatatikaEmulator(store, seed.matatika)
    emulators: dict[str, Emulator] = {
        "xplenty": xplenty,
        "vonage": vonage,
        "runner": runner,
        "matatika": matatika,
    }

    def problem_response(request: Request, problem: ApiProblem) -> Response:
        """In the error format of the API whose prefix the path has, so that every answer,
        unknown routes and methods included, is one its clients can read."""
        emulator = emulators.get(request.url.path.strip("/").split("/", 1)[0])
        if emulator is not None:
            return emulator.problem_response(request, problem)
        return JSONResponse({"message": problem.message}, problem.status, problem.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        return problem_response(request, ApiProblem(exc.status_code, exc.detail, headers))

    async def server_error(request: Request, exc: Exception) -> Response:
        return problem_response(request, ApiProblem(500, "Internal Server Error"))

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
        """What the fault injector did so far: ``{provider: {fault: count}}``."""
        counts: dict[str, dict[str, int]] = {}
        for (provider, kind), n in sorted(injector.injected.items()) if injector else ():
            counts.setdefault(provider, {})[kind] = n
        return JSONResponse(counts)

    app = Starlette(
        routes=[
            Route("/_sandbox/health", health),
            Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
            Route("/_sandbox/faults", injected_faults),
            xplenty.mount(),
            vonage.mount(),
            runner.mount(),
            matatika.mount(),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    faults: dict[str, Faults] = {str(name): f for name, f in seed.faults.items()}
    injector = (
        FaultInjector(
            app, faults, render=lambda scope, problem: problem_response(Request(scope), problem)
        )
        if faults
        else None
    )
    return SandboxDate(injector or app, store)


class SandboxDate:
    """Sets the ``Date`` header from the sandbox clock, as a real server's clock would be."""

    def __init__(self, app: ASGIApp, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                date = formatdate(self.store.now(), usegmt=True).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message["headers"] = [*headers, (b"date", date)]
            await send(message)

        await self.app(scope, receive, send_with_date)
