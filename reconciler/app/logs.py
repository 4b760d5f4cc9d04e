"""``logs``: a recorded run's log, as its provider keeps it, and with ``follow`` what it adds
until the run ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from reconciler.app.providers import open_providers
from reconciler.app.runtime import run_sync
from reconciler.app.workspace import Environment, Workspace
from reconciler.errors import UsageError, did_you_mean
from reconciler.providers.base import Provider
from reconciler.state.model import RunRecord


def logs_command(
    ws: Workspace,
    env: Environment,
    name: str,
    *,
    follow: bool,
    interval: float,
    echo: Callable[[str], None],
) -> None:
    """Echo each log line of spec ``name``'s recorded run; with ``follow``, until it ends."""
    lock = ws.store.read()
    record = lock.runs.get(name)
    if record is None:  # before any credential is needed
        raise UsageError(f"the lockfile records no run for {name!r}{did_you_mean(name, lock.runs)}")
    if record.run_id is None:
        raise UsageError(f"the start of {name}'s run was not confirmed: there is no run to read")
    run_sync(_read(ws, env, record, follow, interval, echo))


async def _read(
    ws: Workspace,
    env: Environment,
    record: RunRecord,
    follow: bool,
    interval: float,
    echo: Callable[[str], None],
) -> None:
    assert record.run_id is not None
    async with open_providers(ws, env, [record.instance]) as providers:
        provider = providers[record.instance]
        after = await _more(provider, record, 0, echo)
        while follow:
            ended = (await provider.get_run(record.run_id)).status.is_terminal
            after = await _more(provider, record, after, echo)  # what came before it ended
            if ended:
                return
            await asyncio.sleep(interval)


async def _more(
    provider: Provider, record: RunRecord, after: int, echo: Callable[[str], None]
) -> int:
    assert record.run_id is not None
    found = await provider.logs(record.run_id, after)
    if found is None:
        raise UsageError(
            f"{record.instance} is an instance of {record.provider_type}: its API keeps no log "
            f"of a run (docs/providers/{record.provider_type}.md)"
        )
    for line in found.lines:
        echo(line)
    return found.next
