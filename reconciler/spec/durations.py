"""Durations written as ``90s``, ``30m``, ``2h``, ``1h30m``, ``1d`` or a number of seconds."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from reconciler.spec.limits import MAX_DURATION

_PART = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_PATTERN = r"^(\d+[smhd])+$"


def parse_duration(value: Any) -> int:
    """Seconds in ``value``; raises ValueError with a reason fit for the user."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 30m, 2h or 1h30m")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        seconds = value
    elif isinstance(value, str) and len(value) <= 64 and re.fullmatch(DURATION_PATTERN, value):
        seconds = sum(int(n) * _UNIT[u] for n, u in _PART.findall(value))
    else:
        raise ValueError("expected a duration such as 90s, 30m, 2h or 1h30m")
    if seconds > MAX_DURATION:
        raise ValueError(f"at most {format_duration(MAX_DURATION)} ({MAX_DURATION} seconds)")
    return seconds


def format_duration(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _schema(minimum: int, what: str) -> WithJsonSchema:
    text: dict[str, Any] = {"type": "string", "pattern": DURATION_PATTERN, "maxLength": 64}
    if minimum > 0:
        text["not"] = {"pattern": "^(0+[smhd])+$"}
    return WithJsonSchema(
        {
            "oneOf": [text, {"type": "integer", "minimum": minimum, "maximum": MAX_DURATION}],
            "description": f"{what}: 90s, 30m, 2h, 1h30m, 1d, or seconds as an integer; "
            f"at most {format_duration(MAX_DURATION)}.",
        }
    )


def _positive(seconds: int) -> int:
    if seconds <= 0:
        raise ValueError("must be longer than 0s")
    return seconds


Duration = Annotated[int, BeforeValidator(parse_duration), _schema(0, "A duration")]
PositiveDuration = Annotated[
    Duration, AfterValidator(_positive), _schema(1, "A duration longer than 0s")
]
