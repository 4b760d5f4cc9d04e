"""Where credentials may go: the URLs of an instance that carry them, against allowed hosts.

A credential goes only over https to a host its provider type documents (``production_hosts``)
or to a host allowed from outside the repository (``--allow-host``, ``RECONCILER_ALLOW_HOSTS``).
Plain http is accepted only for an explicitly allowed loopback host (a local sandbox).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

ALLOW_HOSTS_VARIABLE = "RECONCILER_ALLOW_HOSTS"


@dataclass(frozen=True)
class AllowedHost:
    host: str
    port: int | None  # None: any port

    def matches(self, host: str, port: int) -> bool:
        return self.host == host and self.port in (None, port)


def parse_allowed_host(text: str) -> AllowedHost:
    """``HOST``, ``HOST:PORT``, ``[IPV6]:PORT`` or a bare IPv6 address."""
    text = text.strip().lower()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not _valid_host(host) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"not HOST or HOST:PORT: {text}")
    return AllowedHost(host, int(port) if port else None)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host) is not None
    return True


def allowed_hosts(option: Iterable[str], variable: str | None) -> tuple[AllowedHost, ...]:
    """The ``--allow-host`` values and the comma-separated ``RECONCILER_ALLOW_HOSTS``."""
    texts = [*option, *(variable or "").split(",")]
    return tuple(parse_allowed_host(t) for t in texts if t.strip())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(url: str, production: Iterable[str], allowed: Iterable[AllowedHost]) -> str | None:
    """Why a credential may not be sent to ``url``, or None when it may."""
    try:
        parts = urlsplit(url)
        host, explicit_port = (parts.hostname or ""), parts.port
    except ValueError:
        return "credentials go to no URL that cannot be parsed"
    if parts.username is not None or parts.password is not None:
        return "credentials go to no URL with user info"
    port = explicit_port or {"https": 443, "http": 80}.get(parts.scheme, 0)
    where = host if explicit_port is None else f"{host}:{port}"
    named = any(a.matches(host, port) for a in allowed)
    if parts.scheme == "https" and (named or (host in production and port == 443)):
        return None
    if parts.scheme == "http" and named and is_loopback(host):
        return None
    if parts.scheme == "http":
        return f"credentials go over plain http only to an allowed loopback host, not {where}"
    return f"credentials go only to the provider's hosts or to --allow-host, not {where}"
