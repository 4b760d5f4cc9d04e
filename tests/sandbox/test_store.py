"""The sandbox's SQLite state opened by several processes at once (two appliers with
``--sandbox`` in one repository): each opening succeeds. Threads with their own connections
race the same way processes do, at SQLite's file locks."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from reconciler.sandbox.store import Store


def test_a_new_state_file_opened_by_six_connections_at_once_opens_for_each(
    tmp_path: Path,
) -> None:
    # Without the retry about 3% of rounds failed ("database is locked" on the WAL switch).
    failures: list[sqlite3.Error] = []

    def open_store(path: Path) -> None:
        try:
            Store(path).close()
        except sqlite3.Error as exc:
            failures.append(exc)

    for round_ in range(200):
        path = tmp_path / f"round-{round_}" / "sandbox.db"
        threads = [threading.Thread(target=open_store, args=(path,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
