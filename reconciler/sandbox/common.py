"""What every emulator needs: problems that become error bodies, hourly rate counting, request
bodies read as the APIs read them, and the base of seed models."""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request


class ApiProblem(Exception):
    """An error answer; each emulator renders it in its API's own error shape."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class SeedModel(BaseModel):
    """A section of the seed file, or a part of one: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def overlay(base: M, *layers: M | None) -> M:
    """``base`` with each layer's set fields laid over it, in order."""
    for layer in layers:
        if layer is not None:
            base = base.model_copy(update=layer.model_dump(exclude_none=True))
    return base


class HourlyRate:
    """Calls per credential per clock hour; ``limit`` None means unlimited (no headers)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._calls: dict[tuple[str, int], int] = {}

    def count(self, credential: str, *, counted: bool = True) -> dict[str, str]:
        """Headers to send; raises a 429 ApiProblem with Retry-After past the limit."""
        if self.limit is None:
            return {}
        hour = int(time.time() // 3600)
        used = self._calls.get((credential, hour), 0)
        if counted:
            if used >= self.limit:
                retry = int((hour + 1) * 3600 - time.time()) + 1
                headers = {
                    "Retry-After": str(retry),
                    "X-RateLimit-Limit": str(self.limit),
                    "X-RateLimit-Remaining": "0",
                }
                raise ApiProblem(429, "Rate Limit Exceeded", headers)
            used += 1
            self._calls[(credential, hour)] = used
        remaining = max(0, self.limit - used)
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(remaining)}


def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def b64url_decode(segment: str) -> bytes:
    """A JWT segment: base64url with its padding stripped."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def is_jwt(token: str) -> bool:
    """Three base64url segments, the first two JSON objects (RFC 7519 §7.2: the JOSE header and
    the claims set are objects): a well-formed JWT (signature unchecked)."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return False
    try:
        return all(isinstance(json.loads(b64url_decode(part)), dict) for part in parts[:2])
    except (ValueError, RecursionError):
        return False


INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1


def parse_json(raw: bytes) -> Any:
    """A request body as the APIs' JSON parsers take it (RFC 8259 with I-JSON's limits, RFC 7493).

    UTF-8 only; no ``NaN``/``Infinity`` and no number that overflows a double; no unpaired
    surrogate (``"\\ud800"``), which no UTF-8 response could ever carry back. Anything else is a
    400, never a value stored to break a later listing.
    """
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ApiProblem(400, "Request body is not valid JSON") from None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ApiProblem(400, "Request body holds a number out of range")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


async def json_object(request: Request) -> dict[str, Any]:
    body = parse_json(await request.body())
    if not isinstance(body, dict):
        raise ApiProblem(400, "Request body must be a JSON object")
    return body


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")


async def form_fields(request: Request) -> list[tuple[str, str]]:
    return parse_qsl((await request.body()).decode("utf-8", "replace"))


async def form_or_json(request: Request) -> dict[str, Any]:
    """A form, or a JSON object, by Content-Type (as logins and token grants take them)."""
    if is_form(request):
        return dict(await form_fields(request))
    return await json_object(request)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiProblem(400, "Request body is not valid JSON: unpaired surrogate") from None


def is_int(value: Any) -> bool:
    """A JSON integer (``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)
