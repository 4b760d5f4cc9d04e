"""A stub of the Auth0 client-credentials exchange Matatika's API tokens come from."""

from __future__ import annotations

import hashlib

from starlette.responses import JSONResponse, Response


def issued_token(client_id: str, secret: str) -> str:
    """The token the grant issues to a client: derived, so separate processes agree."""
    return "mt-" + hashlib.sha256(f"{client_id}:{secret}".encode()).hexdigest()[:32]


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    """An OAuth 2.0 error (RFC 6749 §5.2)."""
    return JSONResponse({"error": error, "error_description": description}, status, headers)


def grant_problem(
    client_id: object, secret: object, grant: object, clients: dict[str, str] | None
) -> Response | None:
    """Why a grant is refused, as the token endpoint answers it; None: granted."""
    if not (isinstance(client_id, str) and isinstance(secret, str) and client_id and secret):
        return oauth_error(400, "invalid_request", "client_id and client_secret required")
    if grant != "client_credentials":
        return oauth_error(400, "unsupported_grant_type", "grant_type: client_credentials")
    if clients is not None and clients.get(client_id) != secret:
        return oauth_error(401, "access_denied", "Unauthorized")
    return None
