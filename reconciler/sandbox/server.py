"""Run the sandbox: in the foreground (``sandbox serve``) or on a background thread
(``--sandbox``, tests and benchmarks), always on a real socket."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from types import TracebackType

import uvicorn

from reconciler.errors import UsageError
from reconciler.sandbox.app import create_app
from reconciler.sandbox.seed import Seed
from reconciler.sandbox.store import Store


def _config(
    store: Store, seed: Seed, host: str, port: int, log_level: str = "warning"
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(store, seed),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        date_header=False,
        lifespan="off",
    )


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is announced: a port in use or a host that
    is not this machine's is one clear line, not a traceback after the banner."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then (see below).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except OSError as exc:
        raise UsageError(f"sandbox serve: cannot listen on {host}:{port}: {exc.strerror}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"sandbox serve: cannot listen on {host}:{port}: {reason}") from None
    return sock


def serve(*, sock: socket.socket, seed: Seed, state: Path | None) -> None:
    host, port = sock.getsockname()[:2]
    store = Store(state)
    try:
        asyncio.run(uvicorn.Server(_config(store, seed, host, port)).serve(sockets=[sock]))
    finally:
        store.close()
        sock.close()


class BackgroundSandbox:
    """A sandbox on a free loopback port, on a daemon thread; ``url`` is its origin."""

    def __init__(self, *, seed: Seed | None = None, state: Path | None = None) -> None:
        self.store = Store(state)
        # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then,
        # and without it every response waits ~40 ms for a delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # In-process, the server's own logs would land in the user's terminal: injected
        # faults (dropped connections) are logged by uvicorn as application errors.
        config = _config(self.store, seed or Seed(), "127.0.0.1", self.port, "critical")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="reconciler-sandbox", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self) -> BackgroundSandbox:
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("sandbox server failed to start")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        self.store.close()

    def __enter__(self) -> BackgroundSandbox:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
