"""The `watch` replicas of a PostgreSQL state, and which provider instances (shards) each
works on: every replica renews its row (a thread, ``Membership.start``) and reads the live
ones each cycle; each instance belongs to the replica ranking highest for it (rendezvous
hashing, bounded to an even share: ``assignment``), so a replica joining or leaving moves few
instances, and every replica computes the same owners from the same members. Exclusion
does not rest on this agreement: each cycle takes its instances' leases (``state.pglease``),
so two replicas briefly disagreeing take turns."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.errors import StateError
from reconciler.state.pglease import LIVE, WHOLE_STATE
from reconciler.state.pgstore import Connection, PgStore


def assignment(instances: Sequence[str], replicas: Sequence[str]) -> dict[str, str]:
    """Each instance's replica: the highest-ranked one for it (rendezvous hashing) that is
    not yet full, instances taken in name order; each replica gets ``n // m`` instances, and
    ``n % m`` of them one more. Plain rendezvous hashing is uneven (all 4 instances to one of
    2 replicas one time in 8); bounded, no replica holds two instances more than another."""
    base, extra = divmod(len(instances), len(replicas))
    load: Counter[str] = Counter()
    owners = {}
    for instance in sorted(instances):
        ranked = sorted(
            replicas,
            key=lambda r: hashlib.sha256(f"{instance}\0{r}".encode()).digest(),
            reverse=True,
        )
        larger = sum(1 for r in replicas if load[r] > base)  # those holding base + 1
        limit = base + 1 if larger < extra else base
        chosen = next(r for r in ranked if load[r] < limit)
        owners[instance] = chosen
        load[chosen] += 1
    return owners


@dataclass(frozen=True)
class Unowned:
    """A provider instance no replica has worked on for a while, and who last did."""

    instance: str
    replica: str
    host: str
    worked_at: datetime
    seconds: float  # since then


class Membership:
    """This process as one replica of ``store``'s `watch`: its row renewed by a thread every
    quarter of ``ttl`` (however long a cycle takes), so a dead replica is out after ``ttl``,
    and ``changed`` called when this replica's instances change between cycles (another
    replica joined, left or died), to begin a cycle on them at once."""

    def __init__(self, store: PgStore, ttl: float) -> None:
        self.store = store
        self.ttl = ttl  # seconds a replica counts as alive after its row was last renewed
        self.id = uuid.uuid4().hex[:12]
        self._conn: Connection | None = None
        self._guard = threading.Lock()  # one user of the connection at a time
        self.instances: list[str] = []  # those in use, as of the last cycle
        self._shards: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.store.connect()
        return self._conn

    def members(self) -> list[str]:
        """Renew this replica, and the live replicas (this one included), sorted."""
        with self._guard, self.store.errors():
            conn = self._connection()
            conn.execute(
                "INSERT INTO replicas (state, replica_id, host, pid, expires_at)"
                " VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s))"
                " ON CONFLICT (state, replica_id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
                (self.store.state, self.id, socket.gethostname(), os.getpid(), self.ttl),
            )
            conn.execute(
                "DELETE FROM replicas WHERE state = %s AND expires_at < now() - interval '1 day'",
                (self.store.state,),
            )
            rows = conn.execute(
                "SELECT replica_id FROM replicas WHERE state = %s AND expires_at > now()"
                " ORDER BY replica_id",
                (self.store.state,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def shards(self, instances: Sequence[str]) -> list[str]:
        """The instances this replica works on now."""
        owners = assignment(instances, self.members())
        self.instances = list(instances)
        self._shards = sorted(i for i, replica in owners.items() if replica == self.id)
        return self._shards

    def worked_on(self, instances: Sequence[str]) -> None:
        """This replica holds these instances' leases for a cycle now."""
        with self._guard, self.store.errors():
            self._connection().execute(
                "INSERT INTO shards (state, instance, replica_id, host, worked_at)"
                " SELECT %s, instance, %s, %s, now() FROM unnest(%s::text[]) AS instance"
                " ON CONFLICT (state, instance) DO UPDATE SET replica_id = EXCLUDED.replica_id,"
                " host = EXCLUDED.host, worked_at = EXCLUDED.worked_at",
                (self.store.state, self.id, socket.gethostname(), list(instances)),
            )

    def unowned(self, instances: Sequence[str], after: float) -> list[Unowned]:
        """Instances among ``instances`` no replica has worked on for ``after`` seconds, whose
        lease (or the whole state's) no live holder has now. One never worked on is not
        told: a replica's first cycle takes it."""
        with self._guard, self.store.errors():
            rows = (
                self._connection()
                .execute(
                    "SELECT instance, replica_id, host, worked_at,"
                    " extract(epoch FROM now() - worked_at)::float8 FROM shards"
                    " WHERE state = %s AND instance = ANY(%s)"
                    " AND worked_at < now() - make_interval(secs => %s)"
                    " AND NOT EXISTS (SELECT 1 FROM leases WHERE leases.state = shards.state"
                    " AND leases.scope IN (shards.instance, %s)"
                    f" AND leases.holder_id IS NOT NULL AND {LIVE})"
                    " ORDER BY instance",
                    (self.store.state, list(instances), after, WHOLE_STATE),
                )
                .fetchall()
            )
        return [Unowned(str(r[0]), str(r[1]), str(r[2]), r[3], float(r[4])) for r in rows]

    def start(self, changed: Callable[[], None]) -> None:
        def beat() -> None:
            while not self._stop.wait(self.ttl / 4):
                try:
                    members = self.members()
                except StateError:
                    continue  # the database is unreachable: the next beat tries again
                owners = assignment(self.instances, members) if self.instances else {}
                mine = sorted(i for i, replica in owners.items() if replica == self.id)
                if self.instances and mine != self._shards:
                    changed()

        self._thread = threading.Thread(target=beat, name="replica-heartbeat", daemon=True)
        self._thread.start()

    def leave(self) -> None:
        """On shutdown: the others take this replica's instances at once, not after its row
        expires."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self._guard, self.store.errors():
                self._connection().execute(
                    "DELETE FROM replicas WHERE state = %s AND replica_id = %s",
                    (self.store.state, self.id),
                )
        finally:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
