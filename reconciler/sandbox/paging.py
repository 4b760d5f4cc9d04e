"""Paging as the emulated APIs do it: which slice of a listing a request asks for.

Each API names its parameters and renders its own envelope (a ``Link`` header, HAL links, a
results object); what they share is reading the two numbers and cutting the slice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from reconciler.sandbox.common import INT32_MAX, INT64_MAX, ApiProblem

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    number: int  # as the request gave it (the offset, for offset paging)
    start: int  # index of the first item
    size: int

    def of(self, items: Sequence[T]) -> list[T]:
        return list(items[self.start : self.start + self.size])

    @property
    def offset(self) -> int:
        """``start`` for SQL's OFFSET: past any table when past what SQLite's integers hold."""
        return min(self.start, INT64_MAX)


def page_count(total: int, size: int) -> int:
    return math.ceil(total / size)


def strict_page(
    number: str | None,
    size: str | None,
    *,
    names: tuple[str, str],
    first: int,
    default_size: int,
    max_size: int,
    by_offset: bool = False,
) -> Page:
    """A page number (or an offset) and a size, refused with a 400 when either is not an
    integer or out of bounds; an absent one is ``first`` or ``default_size``."""
    try:
        at = first if number is None else int(number)
        length = default_size if size is None else int(size)
    except ValueError:
        raise ApiProblem(400, f"{names[0]} and {names[1]} must be integers") from None
    if at < first or not 1 <= length <= max_size:
        raise ApiProblem(
            400, f"{names[0]} must be >= {first} and {names[1]} between 1 and {max_size}"
        )
    return Page(at, at if by_offset else (at - first) * length, length)


def spring_page(number: str | None, size: str | None, *, default_size: int, max_size: int) -> Page:
    """Spring Data's ``PageableHandlerMethodArgumentResolver``: an unreadable or negative page
    is 0, an unreadable or non-positive size the default, a larger one the maximum."""
    page = max(0, _java_int(number, 0))
    length = _java_int(size, default_size)
    length = default_size if length < 1 else min(length, max_size)
    return Page(page, page * length, length)


def _java_int(value: str | None, default: int) -> int:
    """An int query parameter as Spring binds it: a Java int, else the default."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if -INT32_MAX - 1 <= number <= INT32_MAX else default
