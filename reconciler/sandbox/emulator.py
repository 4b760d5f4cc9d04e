"""The shape of every emulator: a provider type's API served under its prefix, with its own
tables, seed section, routes each naming its handler, authentication, rate counting and error
rendering in the provider's format, on the sandbox clock."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from reconciler.providers.base import sandbox_path
from reconciler.sandbox.common import ApiProblem, HourlyRate
from reconciler.sandbox.store import Store

Handler = Callable[[Request], Awaitable[Response]]


class SeedSection(Protocol):
    @property
    def rate_limit(self) -> int | None: ...


S = TypeVar("S", bound=SeedSection)


@dataclass(frozen=True)
class Endpoint:
    """A path of the API and its handler for each method."""

    path: str
    handlers: Mapping[str, Handler]
    authenticated: bool = True  # False: a login or token grant, itself the credential check
    counted: bool = True  # False: free of the rate limit


def endpoint(
    path: str, *, authenticated: bool = True, counted: bool = True, **handlers: Handler
) -> Endpoint:
    """``endpoint("/jobs", GET=self.list_jobs, POST=self.create_job)``."""
    return Endpoint(path, handlers, authenticated, counted)


class Emulator(ABC, Generic[S]):
    name: ClassVar[str]  # the provider type it emulates, which names its prefix
    seed_model: ClassVar[type[BaseModel]]  # its section of the seed file
    tables: ClassVar[str]  # SQL creating its tables, idempotent
    base: ClassVar[str] = ""  # where its routes sit under the prefix
    media_type: ClassVar[str] = "application/json"

    def __init__(self, store: Store, seed: S) -> None:
        self.store = store
        self.seed = seed
        self.rate = HourlyRate(seed.rate_limit)
        store.create_tables(self.tables)

    @classmethod
    def prefix(cls) -> str:
        return sandbox_path(cls.name)

    @abstractmethod
    def endpoints(self) -> list[Endpoint]: ...

    @abstractmethod
    def authenticate(self, request: Request) -> str:
        """The request's credential (rates are counted per credential), or an ApiProblem."""

    @abstractmethod
    def problem_response(self, request: Request, problem: ApiProblem) -> Response:
        """An error in the API's own format; the app routes every error under the prefix here."""

    def now(self) -> float:
        """The sandbox clock, which every run's timeline is read on."""
        return self.store.now()

    def url(self, request: Request, path: str) -> str:
        """The absolute URL of ``path`` under the prefix, as the API links its resources."""
        return f"{str(request.base_url).rstrip('/')}{self.prefix()}{path}"

    def json(
        self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        return JSONResponse(body, status, headers, self.media_type)

    def credential(self, request: Request) -> str:
        """The credential ``authenticate`` found for this request."""
        return str(request.state.credential)

    def mount(self) -> Mount:
        routes = [Route(e.path, self._serve(e), methods=list(e.handlers)) for e in self.endpoints()]
        return Mount(self.prefix() + self.base, routes=routes)

    def _serve(self, endpoint: Endpoint) -> Handler:
        async def serve(request: Request) -> Response:
            handler = endpoint.handlers["GET" if request.method == "HEAD" else request.method]
            headers: dict[str, str] = {}
            try:
                if endpoint.authenticated:
                    request.state.credential = self.authenticate(request)
                    headers = self.rate.count(request.state.credential, counted=endpoint.counted)
                response = await handler(request)
            except ApiProblem as problem:
                problem.headers = {**headers, **problem.headers}
                return self.problem_response(request, problem)
            response.headers.update(headers)
            return response

        return serve
