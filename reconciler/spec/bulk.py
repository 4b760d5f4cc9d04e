"""Pydantic models made by the hundred thousand: run records, desired runs, actions.

Two per-instance costs of a pydantic model are shared by the instances of a class here:

- the set of the fields that were given (``model_fields_set``), 1-2 KB each, more than a
  lockfile record's values (issue 20: 10,000 records read 4.0 KB each, 1.7 KB without).
  reconciler never asks which fields were given (no ``exclude_unset``), so each instance
  holds its class's one set of every field name instead;
- the field names of the instance's ``__dict__``. pydantic gives each instance a dict of its
  own (832 bytes for a record's 25 fields); an ordinary object's attributes share their
  names with the other instances of its class (CPython's key-sharing dicts, PEP 412), so
  the values are moved into such a dict: 272 bytes. It stays a plain ``dict`` — copies,
  ``model_copy(update=...)``, equality and pickling see no difference — and on an
  interpreter without key-sharing it is simply an ordinary dict again.

A pickle of such a model (desired runs cross from the processes that read the specs) holds
its class and its values alone, and is rebuilt straight into a key-sharing dict.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any, ClassVar, Self

from pydantic import BaseModel


class _EveryField(set[str]):
    """A model class's field names, shared by its instances: copying a model (``model_copy``
    copies the set, then adds the names it updated, all in it already) keeps the one set."""

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


class _Values:
    """Base of the classes whose instances lend a key-sharing ``__dict__`` (one per model)."""


class BulkModel(BaseModel):
    """A model whose instances share one fields-set (every field counts as given) and the
    field names of their ``__dict__``."""

    _every_field: ClassVar[_EveryField] = _EveryField()
    _values: ClassVar[type[_Values]] = _Values
    _names: ClassVar[tuple[str, ...]] = ()
    _in_order: ClassVar[Callable[[dict[str, Any]], tuple[Any, ...]] | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._every_field = _EveryField(cls.model_fields)
        # A class of its own per model: one class's instances share one key table.
        cls._values = type(f"{cls.__name__}Values", (_Values,), {"__module__": __name__})
        cls._names = tuple(cls.model_fields)
        # itemgetter of two names or more gives a tuple (of one name, the bare value).
        cls._in_order = itemgetter(*cls._names) if len(cls._names) > 1 else None

    def model_post_init(self, context: Any, /) -> None:
        object.__setattr__(self, "__pydantic_fields_set__", self._every_field)
        self._share_keys()

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        object.__setattr__(self, "__pydantic_fields_set__", self._every_field)
        self._share_keys()

    def __reduce_ex__(self, protocol: Any) -> Any:
        fields = self.__dict__
        in_order = type(self)._in_order
        if (
            in_order is None
            or self.__pydantic_extra__
            or self.__pydantic_private__
            or len(fields) != len(self._names)
        ):
            return super().__reduce_ex__(protocol)
        return _rebuilt, (type(self), in_order(fields))

    def _share_keys(self) -> None:
        values = _key_sharing(self._values)
        values.update(self.__dict__.items())
        object.__setattr__(self, "__dict__", values)


def _key_sharing(values: type[_Values]) -> dict[str, Any]:
    # A new object's __dict__ starts on its class's shared key table and stays on it while
    # names come one by one in the same order: update() from items does that, where
    # update() from a dict copies that dict's own table.
    return object.__new__(values).__dict__


def _rebuilt(cls: type[BulkModel], values: tuple[Any, ...]) -> BulkModel:
    """A pickled model (``BulkModel.__reduce_ex__``) made again from its values."""
    model = cls.__new__(cls)
    fields = _key_sharing(cls._values)
    fields.update(zip(cls._names, values, strict=True))
    object.__setattr__(model, "__dict__", fields)
    object.__setattr__(model, "__pydantic_fields_set__", cls._every_field)
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model
