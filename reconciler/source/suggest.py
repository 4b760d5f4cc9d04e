"""The keys a model takes at a key path, to suggest one for an unknown key (``prnue``)."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from reconciler.source.positions import PathPart


def known_keys(model: type[BaseModel] | None, parts: Sequence[PathPart]) -> list[str]:
    """The keys (aliases where set) of the model found at ``parts``, or none if unclear."""
    annotation: Any = model
    for part in parts:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    model_class = _model_in(annotation)
    if model_class is None:
        return []
    return [field.alias or name for name, field in model_class.model_fields.items()]


def _step(annotation: Any, part: PathPart) -> Any:
    """The annotation one key or index further down, or None."""
    model_class = _model_in(annotation)
    if model_class is not None:
        fields = {field.alias or name: field for name, field in model_class.model_fields.items()}
        field = fields.get(str(part)) or model_class.model_fields.get(str(part))
        return None if field is None else field.annotation
    origin = typing.get_origin(annotation)
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is dict and len(arguments) == 2:
        return arguments[1]
    if origin is list and len(arguments) == 1 and isinstance(part, int):
        return arguments[0]
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class of ``annotation``, also inside ``X | None`` and ``Annotated``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        models = [m for a in typing.get_args(annotation) if (m := _model_in(a)) is not None]
        return models[0] if len(models) == 1 else None
    return None
