"""The one sync bridge: commands are sync (click), the use cases async inside.

A ``Runtime`` is one event loop for a whole command, so that what is opened in it, the
provider adapters with their logins, tokens and rate limits, serves every phase of an apply
(refresh, claim, actions) and every cycle of ``watch``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from reconciler.app.providers import ProviderPool

T = TypeVar("T")


class Runtime:
    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self.providers = ProviderPool()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run to completion in this runtime's loop. The result is passed outside the main
        task: at exit, asyncio's SIGINT handling formats the task's repr, result included,
        and a 1,000-run plan is costly to format."""
        box: list[T] = []

        async def main() -> None:
            box.append(await coroutine)

        self._runner.run(main())
        return box[0]

    def close(self) -> None:
        try:
            self.run(self.providers.aclose())
        finally:
            self._runner.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """One coroutine in a runtime of its own (a command with one phase: plan, show)."""
    with Runtime() as runtime:
        return runtime.run(coroutine)
