"""``state pull`` and ``state push``: a state copied whole between the lockfile and the
configured PostgreSQL store, lineage and serial kept, with Terraform's checks.

Either way, the copy goes from a *source* store to a *target* store. Each is taken under its
own lock and has a journal an interrupted apply left replayed first (``recover``), so nothing
it holds is lost. The target then takes the source's state unless it belongs to another
lineage, is newer, or holds other content under the same serial (``refusal``); ``force``
overrides, with a serial past the target's so that plans saved against either are stale.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.errors import StateChangedError, StateError
from reconciler.state.model import Lockfile
from reconciler.state.store import StateStore


@dataclass(frozen=True)
class Copied:
    """What a copy did: the state now in the target, and what it replaced."""

    written: Lockfile
    replaced: Lockfile
    # A journal an interrupted apply left in the source or the target, replayed first.
    replayed: tuple[str, ...] = ()
    # The target already held this state: nothing was written.
    unchanged: bool = False


def refusal(current: Lockfile, incoming: Lockfile) -> str | None:
    """Why ``incoming`` must not replace ``current`` without ``--force`` (Terraform's rules for
    ``state push``); None when it may. An empty target takes any state."""
    if not current.lineage:
        return None
    if current.lineage != incoming.lineage:
        return f"it is another state (lineage {incoming.lineage}, not {current.lineage})"
    if incoming.serial < current.serial:
        return f"it is older (serial {incoming.serial}, not {current.serial})"
    if incoming.serial == current.serial and _content(incoming) != _content(current):
        return f"both hold serial {current.serial} with different records"
    return None


def _content(lock: Lockfile) -> Lockfile:
    return lock.model_copy(update={"reconciler_version": None})


def copy_state(
    source: StateStore, target: StateStore, *, command: str, force: bool, timeout: float
) -> Copied:
    """Copy ``source``'s state into ``target`` (see the module's docstring)."""
    replayed: list[str] = []
    with source.locked(command, timeout=timeout) as held:
        if held.recover():
            replayed.append(source.name)
        incoming = held.read()
    if not incoming.lineage:
        raise StateError(f"{source.name} holds no state yet: nothing to copy")
    with target.locked(command, timeout=timeout) as held:
        if held.recover():
            replayed.append(target.name)
        current = held.read()
        why = refusal(current, incoming)
        if why is not None and not force:
            raise StateChangedError(
                f"{target.name} was not replaced by the state of {source.name}: {why}; "
                "pass --force to replace it all the same"
            )
        if why is None and _content(incoming) == _content(current):
            return Copied(current, current, tuple(replayed), unchanged=True)
        if why is not None:  # forced: past both serials, so plans saved against either are stale
            serial = max(incoming.serial, current.serial + 1)
            incoming = incoming.model_copy(update={"serial": serial})
        return Copied(held.replace(incoming), current, tuple(replayed))
