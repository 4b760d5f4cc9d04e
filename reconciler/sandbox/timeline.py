"""A run's statuses over time, shared by every emulator: phases with durations, cut short by a
stop. The status at any moment is read off the timeline, so it is a pure function of the stored
times and the sandbox clock (no background task)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

Phases = Iterable[tuple[str, float]]  # (status, how long it lasts)


class Step(NamedTuple):
    at: float
    status: str


@dataclass(frozen=True)
class Timeline:
    """(time, status) steps in order; the last is where the run ends."""

    steps: tuple[Step, ...]

    @classmethod
    def run(cls, start: float, phases: Phases, outcome: str) -> Timeline:
        """Each phase from the end of the one before, then ``outcome`` for good."""
        steps, at = [], start
        for status, duration in phases:
            steps.append(Step(at, status))
            at += duration
        steps.append(Step(at, outcome))
        return cls(tuple(steps))

    def then(self, later: Timeline) -> Timeline:
        return Timeline(self.steps + later.steps)

    @property
    def end(self) -> float:
        return self.steps[-1].at

    def stopped(self, at: float | None, phases: Phases, final: str) -> Timeline:
        """Cut short by a stop at ``at``: the steps begun by then (the first always: the run
        exists), then the stop's own phases. A stop at or after the end changes nothing."""
        if at is None or at >= self.end:
            return self
        begun = self.steps[:1] + tuple(s for s in self.steps[1:] if s.at <= at)
        return Timeline(begun).then(Timeline.run(at, phases, final))

    def at(self, now: float) -> Step:
        """The step the run is in at ``now`` (before its first step: the first)."""
        reached = [s for s in self.steps if s.at <= now]
        return reached[-1] if reached else self.steps[0]

    def began(self, status: str, now: float) -> float | None:
        """When the run first reached ``status``, if it has by ``now``."""
        return next((s.at for s in self.steps if s.status == status and s.at <= now), None)

    def ended(self, now: float) -> float | None:
        return self.end if self.end <= now else None
