"""What `watch` tells Prometheus (`/metrics`), read off each cycle, and whether it is healthy
and ready (`/healthz`, `/readyz`).

Counters only ever grow: an adapter's own call counts restart when it is replaced (its
configuration changed), so each cycle adds what each adapter made since it was last read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from reconciler.engine.actions import Plan
from reconciler.engine.apply import ApplyResult
from reconciler.providers.base import Provider
from reconciler.state.model import Lockfile

# A cycle's outcome per action: planned only (wait, blocked, in progress...), or what the
# apply made of a change.
PLANNED, DONE, FAILED, NOT_BEGUN = "planned", "done", "failed", "not_begun"


class WatchMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.cycles = Counter(
            "reconciler_cycles",
            "Reconcile cycles, by how they ended.",
            ["status"],
            registry=registry,
        )
        self.cycle_seconds = Histogram(
            "reconciler_cycle_duration_seconds",
            "Time one cycle took: read specs, refresh, plan, apply, record.",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=registry,
        )
        self.actions = Counter(
            "reconciler_actions",
            "Actions by kind and outcome: planned (nothing to perform), done, failed, or "
            "not_begun (interrupted).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.api_calls = Counter(
            "reconciler_api_calls",
            "HTTP requests sent to a provider instance.",
            ["instance"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "reconciler_api_rate_limited",
            "Answers 429 (rate limited) from a provider instance.",
            ["instance"],
            registry=registry,
        )
        self.tokens_left = Gauge(
            "reconciler_rate_limit_tokens",
            "Calls the client-side rate limit of an instance allows now (absent: no limit).",
            ["instance"],
            registry=registry,
        )
        self.unconfirmed = Gauge(
            "reconciler_unconfirmed_intents",
            "Starts begun whose answer is not recorded yet (the next cycle adopts or retries).",
            registry=registry,
        )
        self.missed = Counter(
            "reconciler_missed_occurrences",
            "Scheduled occurrences not started within their starting deadline.",
            registry=registry,
        )
        self.last_success = Gauge(
            "reconciler_last_success_timestamp_seconds",
            "When the last cycle that ended ok ended (Unix time).",
            registry=registry,
        )
        self.shards = Gauge(
            "reconciler_shards_owned",
            "Provider instances this replica works on (a PostgreSQL state shared by replicas).",
            registry=registry,
        )
        self.shard_owned = Gauge(
            "reconciler_shard_owned",
            "1 for each provider instance this replica works on (takes its lease each cycle), "
            "0 for the others in use.",
            ["instance"],
            registry=registry,
        )
        self.unowned = Gauge(
            "reconciler_shards_unowned",
            "Provider instances no replica has worked on for longer than an interval and a "
            "lease, as this replica saw them in its last cycle.",
            registry=registry,
        )
        self.notifications = Counter(
            "reconciler_notifications",
            "Notifications, by outcome: sent, or failed (tried again by a later cycle).",
            ["outcome"],
            registry=registry,
        )
        self._seen: dict[tuple[str, int], tuple[int, int]] = {}  # adapter -> calls, 429s read

    def observe_cycle(
        self, status: str, seconds: float, plan: Plan | None, result: ApplyResult | None
    ) -> None:
        self.cycles.labels(status).inc()
        self.cycle_seconds.observe(seconds)
        if status == "ok":
            self.last_success.set(time.time())
        if plan is None:
            return
        self.missed.inc(plan.missed_occurrences)
        outcome: dict[str, str] = {}
        if result is not None:
            outcome |= {a.name: DONE for a in result.done}
            outcome |= {a.name: FAILED for a, _ in result.failures}
            outcome |= {a.name: NOT_BEGUN for a in result.not_begun}
        for action in plan.actions:
            what = outcome.get(action.name, PLANNED) if action.kind.is_change else PLANNED
            self.actions.labels(action.kind.value, what).inc()

    def observe_shards(self, instances: Sequence[str], mine: Sequence[str], unowned: int) -> None:
        self.shards.set(len(mine))
        for instance in instances:
            self.shard_owned.labels(instance).set(1 if instance in mine else 0)
        self.unowned.set(unowned)

    def observe_state(self, lock: Lockfile) -> None:
        self.unconfirmed.set(sum(1 for r in lock.runs.values() if r.run_id is None))

    def observe_traffic(self, adapters: Mapping[str, Provider]) -> None:
        for instance, provider in adapters.items():
            traffic = provider.traffic()
            calls, limited = self._seen.get((instance, id(provider)), (0, 0))
            self.api_calls.labels(instance).inc(max(0, traffic.calls - calls))
            self.rate_limited.labels(instance).inc(max(0, traffic.rate_limited - limited))
            self._seen[(instance, id(provider))] = (traffic.calls, traffic.rate_limited)
            if traffic.tokens_left is not None:
                self.tokens_left.labels(instance).set(traffic.tokens_left)


@dataclass
class Health:
    """Liveness: the loop is not stuck in one cycle. Readiness: the last cycle ended ok and
    the process is not shutting down."""

    stuck_after: float  # seconds one cycle may take before the process is not live
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cycle_began: float | None = None  # time.monotonic() of the cycle under way
    _last_ok: bool | None = None  # None: no cycle has ended yet
    stopping: bool = False

    def cycle_began(self) -> None:
        with self._lock:
            self._cycle_began = time.monotonic()

    def cycle_ended(self, ok: bool) -> None:
        with self._lock:
            self._cycle_began = None
            self._last_ok = ok

    def live(self) -> tuple[bool, str]:
        with self._lock:
            began = self._cycle_began
        if began is not None and time.monotonic() - began > self.stuck_after:
            return False, f"one cycle has run for more than {self.stuck_after:g}s"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            if self.stopping:
                return False, "shutting down"
            if self._last_ok is None:
                return False, "no cycle has ended yet"
            if not self._last_ok:
                return False, "the last cycle ended in errors"
        return True, "ok"
