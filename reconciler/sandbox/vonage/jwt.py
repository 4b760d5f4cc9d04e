"""Application JWTs as Vonage checks them: RS256 by the application's public key, in time."""

from __future__ import annotations

import json

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from reconciler.sandbox.common import b64url_decode


def application_jwt_problem(token: str, applications: dict[str, str], now: float) -> str | None:
    """Why an application JWT is refused (RS256 signature, ``nbf``, ``exp``), or None."""
    header_part, claims_part, signature_part = token.split(".")
    header, claims = json.loads(b64url_decode(header_part)), json.loads(b64url_decode(claims_part))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "The JWT is malformed"
    public_pem = applications.get(str(claims.get("application_id")))
    if public_pem is None:
        return "The JWT is not valid for this application"
    if header.get("alg") != "RS256":
        return "The JWT must be signed with RS256"
    try:
        key = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            return "The application's key is not an RSA key"
        signed = f"{header_part}.{claims_part}".encode("ascii")
        key.verify(b64url_decode(signature_part), signed, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return "The JWT signature does not match the application's public key"
    expires, not_before = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(expires, int) or not isinstance(not_before, int):
        return "The JWT needs numeric exp and nbf claims"
    if now >= expires:
        return "The JWT has expired"
    if now < not_before:
        return "The JWT is not valid yet"
    return None
