"""`watch --listen`: `/healthz` (live: not stuck in a cycle), `/readyz` (the last cycle ended
ok), `/metrics` (Prometheus' text format), and with a secret `POST /api/webhook` (a git host
asking for a cycle now), served by a thread beside the loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reconciler.app.metrics import Health, WatchMetrics
from reconciler.app.webhook import MAX_BODY, verified
from reconciler.errors import UsageError


@dataclass(frozen=True)
class Webhook:
    secret: bytes = field(repr=False)
    wake: Callable[[], None]  # begin a cycle now


class StatusServer:
    def __init__(
        self,
        host: str,
        port: int,
        metrics: WatchMetrics,
        health: Health,
        webhook: Webhook | None = None,
    ) -> None:
        handler = _handler(metrics, health, webhook)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise UsageError(
                f"--listen {host}:{port}: cannot listen there ({exc.strerror or exc})"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="status-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> StatusServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler(
    metrics: WatchMetrics, health: Health, webhook: Webhook | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # seconds a client may take to send its request

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(HTTPStatus.OK, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, why = health.live() if path == "/healthz" else health.ready()
                self._text(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, why)
            else:
                self._text(HTTPStatus.NOT_FOUND, "not found")

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/api/webhook" or webhook is None:
                self._text(HTTPStatus.NOT_FOUND, "not found")
                return
            length = self.headers.get("Content-Length", "")
            if not length.isdigit():
                self._text(HTTPStatus.LENGTH_REQUIRED, "a Content-Length is required")
                return
            if int(length) > MAX_BODY:
                self._text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"over {MAX_BODY} bytes")
                return
            body = self.rfile.read(int(length))
            signature = self.headers.get("X-Hub-Signature-256")
            token = self.headers.get("X-Gitlab-Token")
            if not verified(webhook.secret, body, signature=signature, token=token):
                self._text(HTTPStatus.UNAUTHORIZED, "the signature or token does not match")
                return
            webhook.wake()
            self._text(HTTPStatus.ACCEPTED, "a cycle begins now")

        def _text(self, status: HTTPStatus, text: str) -> None:
            self._answer(status, f"{text}\n".encode(), "text/plain; charset=utf-8")

        def _answer(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # stdout is the cycle log, one JSON line per cycle

    return Handler
