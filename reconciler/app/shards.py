"""`watch` replicas sharing one PostgreSQL state: which specs this replica acts on in a cycle.

The shards are provider instances (the rate-limit boundary; `state.pgreplicas` says which are
this replica's). A spec belongs to its instance's owner; a record whose spec is gone, to its
record's instance's owner. A cycle applies to those specs only, under their instances' leases
(`apply_session` with targets): a spec moved between instances needs both, and waits for the
other's owner between its cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.app.desired import load_desired
from reconciler.app.scopes import used_instances
from reconciler.app.workspace import Workspace

if TYPE_CHECKING:
    from reconciler.state.pgreplicas import Membership


def membership_for(ws: Workspace) -> Membership | None:
    """A replica's membership when the state is in PostgreSQL; None for the file store (one
    process, the whole state)."""
    database = ws.database
    if database is None:
        return None
    from reconciler.state.pgreplicas import Membership  # psycopg only for this backend

    # Renewed by a thread, a replica's row says it is alive for half a lease: a dead one's
    # instances are taken over (the others woken by their heartbeats) within about a lease.
    return Membership(database, ttl=database.lease_seconds / 2)


def shard_targets(ws: Workspace, membership: Membership) -> tuple[list[str], list[str]]:
    """This replica's instances now, and the specs (and orphaned records) on them."""
    desired = load_desired(ws)
    lock = ws.store.read()
    mine = membership.shards(used_instances(ws, lock, desired))
    named = {d.name for d in desired}
    targets = {d.name for d in desired if d.instance in mine}
    targets |= {n for n, r in lock.runs.items() if n not in named and r.instance in mine}
    return mine, sorted(targets)
