"""What every emulator needs: problems that become error bodies, hourly rate counting."""

from __future__ import annotations

import base64
import json
import time


class ApiProblem(Exception):
    """An error answer; each emulator renders it in its API's own error shape."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


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
    """Three base64url segments, the first two JSON: a well-formed JWT (signature unchecked)."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return False
    try:
        for part in parts[:2]:
            json.loads(b64url_decode(part))
    except ValueError:
        return False
    return True
