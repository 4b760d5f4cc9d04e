"""The Xplenty emulator pages its usual listing in SQLite (issue 20): the moment a job was last
updated, worked out in SQL, is the one its timeline gives, whatever its durations, stop and the
moment asked; and a listing read page by page is the one the general path gives at once."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.sandbox.seed import Seed
from reconciler.sandbox.xplenty.model import TABLES, UPDATED_SQL, job_state
from tests.sandbox.inprocess import XPLENTY, auth_headers, sandbox_client

# Whole and fractional seconds, zero durations included: steps at the same moment.
times = st.one_of(st.integers(0, 50).map(float), st.floats(0, 50, allow_nan=False))


@settings(max_examples=400, deadline=None)
@given(
    created=st.floats(1.7e9, 1.7e9 + 100, allow_nan=False),
    durations=st.tuples(times, times, times),
    stop=st.none() | times,
    stop_durations=st.tuples(times, times),
    after=st.floats(-10, 300, allow_nan=False),
)
def test_the_sql_moment_of_the_last_update_is_the_timelines(
    created: float,
    durations: tuple[float, float, float],
    stop: float | None,
    stop_durations: tuple[float, float],
    after: float,
) -> None:
    db = sqlite3.connect(":memory:")
    db.row_factory = sqlite3.Row
    db.executescript(TABLES)
    db.execute(
        "INSERT INTO xplenty_jobs (account, cluster_id, package_id, variables, "
        "dynamic_variables, created, t_idle, t_pending, t_running, outcome, stop_at, "
        "t_stop_pending, t_stopping) VALUES ('a', 1, 1, '{}', '{}', ?, ?, ?, ?, 'completed', "
        "?, ?, ?)",
        (created, *durations, None if stop is None else created + stop, *stop_durations),
    )
    now = created + after
    row = db.execute(f"SELECT *, {UPDATED_SQL} AS updated FROM xplenty_jobs", {"now": now})
    found = row.fetchone()
    assert found["updated"] == job_state(found, now).updated


def test_a_listing_paged_since_a_moment_is_the_one_the_general_path_reads() -> None:
    """Seven jobs made 40 s apart (some finished, some not, on the sandbox clock), paged two at
    a time since a moment between them (SQLite's path), against the same filter read by the
    general path (sorted by update), in one page."""
    with sandbox_client(Seed()) as client:
        headers = auth_headers(client)["xplenty"]
        for _ in range(7):
            client.post(
                f"{XPLENTY}/jobs", headers=headers, json={"cluster_id": 1, "package_id": 1}
            ).raise_for_status()
            client.post("/_sandbox/clock", json={"advance": 40}).raise_for_status()
        middle = client.get(f"{XPLENTY}/jobs?limit=100", headers=headers).json()[3]
        since = middle["updated_at"]
        paged: list[int] = []
        url: str | None = f"{XPLENTY}/jobs?limit=2&sort=created&direction=asc&since={since}"
        while url is not None:
            response = client.get(url, headers=headers)
            response.raise_for_status()
            paged += [job["id"] for job in response.json()]
            url = response.links.get("next", {}).get("url")
        general = client.get(
            f"{XPLENTY}/jobs?limit=100&sort=updated&direction=asc&since={since}", headers=headers
        ).json()
    assert 0 < len(paged) < 7
    assert paged == sorted(paged)  # by creation, oldest first
    assert sorted(paged) == sorted(job["id"] for job in general)
