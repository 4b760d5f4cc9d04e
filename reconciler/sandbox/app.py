"""The sandbox ASGI app: one origin, every registered emulator under its prefix, and a small
control API."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.sandbox.common import ApiProblem
from reconciler.sandbox.control import control_routes
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.emulators import EMULATORS
from reconciler.sandbox.faults import FaultInjector
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.store import Store


def create_app(store: Store, seed: Seed) -> ASGIApp:
    served = Served([kind(store, seed.section(kind)) for kind in EMULATORS])
    injected: Counter[tuple[str, str]] = Counter()
    app: ASGIApp = Starlette(
        routes=[*control_routes(store, injected), *(e.mount() for e in served.emulators)],
        exception_handlers={HTTPException: served.http_error, Exception: served.server_error},
    )
    if seed.faults:
        app = FaultInjector(app, seed.faults, served.owner, served.render_scope, injected=injected)
    return SandboxDate(app, store)


class Served:
    """The emulators of one app, found by the prefix a path begins with."""

    def __init__(self, emulators: Sequence[Emulator[Any]]) -> None:
        self.emulators = emulators
        self._by_prefix = {e.prefix(): e for e in emulators}

    def at(self, path: str) -> Emulator[Any] | None:
        return self._by_prefix.get("/" + path.strip("/").split("/", 1)[0])

    def owner(self, path: str) -> str | None:
        emulator = self.at(path)
        return emulator.name if emulator is not None else None

    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """In the error format of the API whose prefix the path has, so that every answer,
        unknown routes and methods included, is one its clients can read."""
        emulator = self.at(request.url.path)
        if emulator is not None:
            return emulator.problem_response(request, problem)
        return JSONResponse({"message": problem.message}, problem.status, problem.headers)

    def render_scope(self, scope: Scope, problem: ApiProblem) -> Response:
        return self.problem_response(Request(scope), problem)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        return self.problem_response(request, ApiProblem(exc.status_code, exc.detail, headers))

    async def server_error(self, request: Request, exc: Exception) -> Response:
        return self.problem_response(request, ApiProblem(500, "Internal Server Error"))


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
