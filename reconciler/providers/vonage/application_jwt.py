"""Vonage application JWTs, minted from an application id and its RSA private key.

A JWT handed over ready-made expires (15 minutes from the Vonage CLI by default), which ends a
long `watch` or a slow CI job. Given the application's private key instead, reconciler signs
its own short-lived tokens (RS256) and signs a new one shortly before each expires.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Generator

import httpx
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from reconciler.errors import AuthError

TOKEN_SECONDS = 900  # the Vonage CLI's default lifetime
RENEW_SECONDS = 60  # sign a new token this long before the current one expires


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_private_key(label: str, pem: str) -> rsa.RSAPrivateKey:
    """The RSA key in ``pem``; the error never quotes the key."""
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError(label, "credentials.private_key is not an unencrypted PEM RSA private key")
    return key


def mint(application_id: str, key: rsa.RSAPrivateKey, now: float, lifetime: int) -> str:
    """An RS256 JWT with the claims Vonage's own generators set."""
    header = {"alg": "RS256", "typ": "JWT"}
    issued = int(now)
    claims = {
        "application_id": application_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
    }
    signing_input = ".".join(
        _segment(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_segment(signature)}"


class ApplicationJwtAuth(httpx.Auth):
    """Sets ``Authorization: Bearer <JWT>``, signing a fresh token when the last nears expiry."""

    def __init__(
        self,
        label: str,
        application_id: str,
        private_key_pem: str,
        *,
        clock: Callable[[], float] = time.time,
        lifetime: int = TOKEN_SECONDS,
    ) -> None:
        self._application_id = application_id
        self._key = load_private_key(label, private_key_pem)
        self._clock = clock
        self._lifetime = lifetime
        self._token = ""
        self._expires = 0.0

    def token(self) -> str:
        now = self._clock()
        if now >= self._expires - RENEW_SECONDS:
            self._token = mint(self._application_id, self._key, now, self._lifetime)
            self._expires = int(now) + self._lifetime
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request
