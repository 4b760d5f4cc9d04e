"""Leases on a PostgreSQL state: a holder, an expiry, and an epoch that fences.

A lease is a row of ``leases``. Taking it (free, released, or expired) increments its epoch;
every write under it checks, in the write's own transaction, that the epoch is still its own
(``fence``), so a holder that was paused past its expiry and replaced cannot write late: the
row lock taken by ``fence`` orders it against a taker's update. Time is the database's
(``now()``), never a client's clock. A thread renews the lease every sixth of its length while
it is held; a holder that dies stops renewing, and the next taker takes over once it expires,
or at once when the holder's connection is gone (``LIVE``: a killed process's socket is
closed by its kernel, and the server ends its session).

Scopes: ``''`` is the whole state; any other scope is one provider instance. An apply limited
to some specs (``--target``) takes the leases of the instances it may act on, so appliers on
disjoint instances proceed at once; any other command takes the whole state. The two kinds
exclude each other: taking an instance's lease reads the whole state's row ``FOR SHARE`` and is
refused while it is held; taking the whole state locks that row ``FOR UPDATE`` and is refused
while any instance's lease is live. Every taker locks the whole state's row first, so takers
never wait on each other in a cycle, and a set of leases is taken whole or not at all.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg.rows import TupleRow

from reconciler.errors import LeaseLostError, LockHeldError, StateError
from reconciler.state.store import LockHolder

Connection = psycopg.Connection[TupleRow]
WHOLE_STATE = ""  # the scope of a lease over the whole state
POLL_SECONDS = 0.1
SAFE_SHARE = 0.8  # of a lease's length, counted locally, before which it is surely held
# Renewals per lease: the sure part left stays above 0.8 - 1/6 (63%) of it, more than the
# half a request's timeout may take (``PgJournal.held_for``).
RENEWALS = 6


@dataclass(frozen=True)
class Lease:
    """A lease held: the epoch its writes carry."""

    state: str
    scope: str
    epoch: int
    holder: LockHolder
    taken_over: LockHolder | None  # an expired holder's, replaced by ours


def new_holder(command: str) -> LockHolder:
    return LockHolder(
        id=uuid.uuid4().hex[:12],
        pid=os.getpid(),
        host=socket.gethostname(),
        command=command,
        since=datetime.now(UTC).isoformat(timespec="seconds"),
    )


_HOLDER = "holder_id, pid, host, command, since"
# A lease is live while it has not expired and its holder's connection (the one that took
# it, and writes under it) still exists: a killed holder's lease is taken over at once.
LIVE = (
    "(expires_at > now() AND (backend_pid IS NULL OR EXISTS"
    " (SELECT 1 FROM pg_stat_activity a WHERE a.pid = leases.backend_pid)))"
)


def _holder(row: TupleRow) -> LockHolder | None:
    if row[0] is None:
        return None
    return LockHolder(id=row[0], pid=row[1], host=row[2], command=row[3], since=row[4])


def try_take(
    conn: Connection, state: str, scope: str, holder: LockHolder, seconds: float
) -> Lease | LockHolder:
    """The lease, or the live holder that has it."""
    with conn.transaction():
        conn.execute(
            "INSERT INTO leases (state, scope) VALUES (%s, %s), (%s, %s) ON CONFLICT DO NOTHING",
            (state, WHOLE_STATE, state, scope),
        )
        blocker = _blocker(conn, state, scope)
        if blocker is not None:
            return blocker
        row = conn.execute(
            f"SELECT {_HOLDER}, epoch, {LIVE} FROM leases"
            " WHERE state = %s AND scope = %s FOR UPDATE",
            (state, scope),
        ).fetchone()
        assert row is not None
        current = _holder(row)
        if current is not None and row[6]:
            return current
        epoch = int(row[5]) + 1
        conn.execute(
            "UPDATE leases SET epoch = %(epoch)s, holder_id = %(id)s, pid = %(pid)s,"
            " host = %(host)s, command = %(command)s, since = %(since)s,"
            " expires_at = now() + make_interval(secs => %(seconds)s),"
            " backend_pid = pg_backend_pid()"
            " WHERE state = %(state)s AND scope = %(scope)s",
            {**holder.__dict__, "epoch": epoch, "seconds": seconds, "state": state, "scope": scope},
        )
    return Lease(state, scope, epoch, holder, taken_over=current)


def _blocker(conn: Connection, state: str, scope: str) -> LockHolder | None:
    """The live holder of the other kind of lease that excludes ``scope``'s (see above)."""
    if scope != WHOLE_STATE:
        row = conn.execute(
            f"SELECT {_HOLDER}, {LIVE} FROM leases WHERE state = %s AND scope = %s FOR SHARE",
            (state, WHOLE_STATE),
        ).fetchone()
        return _holder(row) if row is not None and row[5] else None
    conn.execute(
        "SELECT 1 FROM leases WHERE state = %s AND scope = %s FOR UPDATE", (state, WHOLE_STATE)
    )
    row = conn.execute(
        f"SELECT {_HOLDER} FROM leases WHERE state = %s AND scope <> %s"
        f" AND holder_id IS NOT NULL AND {LIVE} ORDER BY scope LIMIT 1",
        (state, WHOLE_STATE),
    ).fetchone()
    return _holder(row) if row is not None else None


def take(
    conn: Connection,
    state: str,
    command: str,
    *,
    scopes: Collection[str] = (),
    timeout: float,
    seconds: float,
    where: str,
) -> list[Lease]:
    """The leases of ``scopes`` (provider instances; none: the whole state), all or none,
    waiting up to ``timeout`` for live holders to release them."""
    deadline = time.monotonic() + timeout
    holder = new_holder(command)
    wanted = sorted(set(scopes)) or [WHOLE_STATE]
    while True:
        taken: list[Lease] = []
        for scope in wanted:
            got = try_take(conn, state, scope, holder, seconds)
            if not isinstance(got, Lease):
                break
            taken.append(got)
        else:
            return taken
        for lease in taken:  # all or none: a partial set would only hold others up
            release(conn, lease)
        if time.monotonic() >= deadline:
            waited = f" after waiting {timeout:g}s" if timeout else ""
            what = f"provider instance {scope} of the state" if scope else "the state"
            raise LockHeldError(
                f"{what} {where} is locked by {got}{waited}; try again when it finishes "
                "(or pass --lock-timeout to wait)"
            )
        time.sleep(POLL_SECONDS)


def fence(conn: Connection, lease: Lease, where: str) -> None:
    """Inside a write's transaction: refused unless ``lease`` is still the current one."""
    row = conn.execute(
        f"SELECT epoch, {_HOLDER} FROM leases WHERE state = %s AND scope = %s FOR SHARE",
        (lease.state, lease.scope),
    ).fetchone()
    if row is None or int(row[0]) != lease.epoch:
        now = _holder(row[1:]) if row is not None else None
        by = f" by {now}" if now is not None else ""
        what = f"provider instance {lease.scope} of the state" if lease.scope else "the state"
        raise LeaseLostError(
            f"the lock on {what} {where} (epoch {lease.epoch}) expired and was taken{by}; "
            "nothing more was written by this command"
        )


def renew(conn: Connection, lease: Lease, seconds: float) -> bool:
    """Extend the lease; False if it is no longer ours."""
    with conn.transaction():
        cursor = conn.execute(
            "UPDATE leases SET expires_at = now() + make_interval(secs => %s)"
            " WHERE state = %s AND scope = %s AND epoch = %s",
            (seconds, lease.state, lease.scope, lease.epoch),
        )
        return cursor.rowcount == 1


def release(conn: Connection, lease: Lease) -> None:
    """Free the lease if it is still ours; the epoch stays, so later takers count on."""
    with conn.transaction():
        conn.execute(
            "UPDATE leases SET holder_id = NULL, pid = NULL, host = NULL, command = NULL,"
            " since = NULL, expires_at = NULL WHERE state = %s AND scope = %s AND epoch = %s",
            (lease.state, lease.scope, lease.epoch),
        )


def force_release(conn: Connection, state: str, lock_id: str) -> LockHolder:
    """Clear the expired lease ``lock_id``, raising its epoch: its holder, if it ever comes
    back, is fenced. Refused while the lease is live."""
    with conn.transaction():
        row = conn.execute(
            f"SELECT {_HOLDER}, {LIVE} FROM leases WHERE state = %s AND scope = %s FOR UPDATE",
            (state, WHOLE_STATE),
        ).fetchone()
        holder = _holder(row) if row is not None else None
        if row is None or holder is None:
            raise StateError("the state is not locked")
        if row[5]:
            raise StateError(
                f"lock {lock_id} is held by a live process: {holder} (its lease is renewed); "
                "stop it rather than clearing its lock"
            )
        if holder.id != lock_id:
            raise StateError(f"the state lock is {holder.id}, not {lock_id}; nothing cleared")
        conn.execute(
            "UPDATE leases SET epoch = epoch + 1, holder_id = NULL, pid = NULL, host = NULL,"
            " command = NULL, since = NULL, expires_at = NULL WHERE state = %s AND scope = %s",
            (state, WHOLE_STATE),
        )
        return holder


class Renewer:
    """Renews leases on its own connection until stopped."""

    def __init__(
        self, connect: Callable[[], Connection], leases: Sequence[Lease], seconds: float
    ) -> None:
        self._connect = connect
        self._leases = leases
        self._seconds = seconds
        self._stop = threading.Event()
        self.lost = False
        # Until when (time.monotonic()) the leases are surely ours: from before the last
        # renewal (or the take) was sent, most of a lease's length, a margin for clock rates.
        self.held_until = time.monotonic() + seconds * SAFE_SHARE
        self._thread = threading.Thread(target=self._run, name="lease-renewer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        conn: Connection | None = None
        try:
            while not self._stop.wait(self._seconds / RENEWALS):
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    sent = time.monotonic()
                    if not all([renew(conn, lease, self._seconds) for lease in self._leases]):
                        self.lost = True  # writes are fenced; nothing to renew
                        self.held_until = 0.0
                        return
                    self.held_until = sent + self._seconds * SAFE_SHARE
                except (psycopg.Error, StateError):
                    if conn is not None:
                        conn.close()  # try again at the next beat, on a new connection
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
