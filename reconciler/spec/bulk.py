"""Pydantic models made by the hundred thousand: run records, desired runs, actions.

Pydantic keeps, per instance, the set of the fields that were given (``model_fields_set``):
1-2 KB each, more than a lockfile record's values (issue 20: 10,000 records read 4.0 KB
each, 1.7 KB without). reconciler never asks which fields were given (no ``exclude_unset``),
so each instance of such a model holds its class's one set of every field name instead.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel


class _EveryField(set[str]):
    """A model class's field names, shared by its instances: copying a model (``model_copy``
    copies the set, then adds the names it updated, all in it already) keeps the one set."""

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


class BulkModel(BaseModel):
    """A model whose instances share one fields-set: every field counts as given."""

    _every_field: ClassVar[_EveryField] = _EveryField()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._every_field = _EveryField(cls.model_fields)

    def model_post_init(self, context: Any, /) -> None:
        object.__setattr__(self, "__pydantic_fields_set__", self._every_field)
