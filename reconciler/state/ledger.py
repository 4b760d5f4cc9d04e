"""Which notifications were sent: a ledger each event's key is claimed in before it is sent,
so it is sent once, across cycles, restarts and (in PostgreSQL) replicas.

A claim whose send failed is released, so a later cycle tries again; a claim whose process
died before sending is taken again after ``STALE_CLAIM``. The file ledger (the file store's,
one process) is a JSON object of key -> when sent, pruned after ``KEPT``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Protocol

from reconciler.errors import StateError, display_path
from reconciler.state.files import write_atomic

STALE_CLAIM = 600.0  # seconds: a claim never marked sent by then is claimed again
KEPT = 30 * 86400.0  # seconds a sent key is remembered in the file ledger


class Ledger(Protocol):
    def claim(self, key: str) -> bool:
        """True when this process is to send ``key``'s notification (no one sent or is
        sending it)."""
        ...

    def sent(self, key: str) -> None: ...

    def release(self, key: str) -> None:
        """The send failed: a later claim may try again."""
        ...

    def close(self) -> None: ...


class FileLedger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, float]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read {display_path(self.path)}: {exc}") from None
        if not isinstance(document, dict):
            raise StateError(f"{display_path(self.path)} is not a JSON object")
        return {str(k): float(v) for k, v in document.items() if isinstance(v, int | float)}

    def _write(self, keys: dict[str, float]) -> None:
        now = time.time()
        kept = {k: at for k, at in keys.items() if now - abs(at) < KEPT}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(kept, sort_keys=True))
        except OSError as exc:
            raise StateError(
                f"cannot write {display_path(self.path)}: {exc.strerror or exc}"
            ) from None

    # A claimed key holds -(claim time) until sent, then the time it was sent.
    def claim(self, key: str) -> bool:
        keys = self._read()
        at = keys.get(key)
        if at is not None and (at > 0 or time.time() + at < STALE_CLAIM):
            return False
        keys[key] = -time.time()
        self._write(keys)
        return True

    def sent(self, key: str) -> None:
        keys = self._read()
        keys[key] = time.time()
        self._write(keys)

    def release(self, key: str) -> None:
        keys = self._read()
        keys.pop(key, None)
        self._write(keys)

    def close(self) -> None:
        """Nothing held open between claims."""
