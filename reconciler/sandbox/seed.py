"""The sandbox seed file: a section per emulator (its own model: accounts, keys, how long runs
take, how they end) and the faults to inject into each.

Without a seed (or without a section's accounts, keys or jobs), each emulator runs in *auto*
mode: any credential is accepted and what a request names is created when first referenced, so
``--sandbox`` works on any spec repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model

from reconciler.errors import InputError, Problem
from reconciler.sandbox.common import SeedModel
from reconciler.sandbox.emulator import Emulator
from reconciler.sandbox.emulators import EMULATORS, NAMES
from reconciler.sandbox.faults import Faults


def _faults_by_name(names: tuple[str, ...]) -> Any:
    """``dict[Literal[*names], Faults]``, for names known at run time: an unknown name is
    refused with the known ones listed."""
    return dict.__class_getitem__((Literal.__getitem__(names), Faults))


# The seed file's schema: ``faults`` by emulator name, then each emulator's section.
_FIELDS: dict[str, Any] = {
    "faults": (_faults_by_name(NAMES), Field(default_factory=dict)),
    **{e.name: (e.seed_model, Field(default_factory=e.seed_model)) for e in EMULATORS},
}
_SeedFile = create_model("Seed", __base__=SeedModel, **_FIELDS)


class Seed:
    """What the sandbox starts from: ``Seed(xplenty=XplentySeed(...), faults={...})``; an
    emulator without a section gets its model's defaults (auto mode)."""

    def __init__(
        self, *, faults: Mapping[str, Faults] | None = None, **sections: BaseModel
    ) -> None:
        self.faults = dict(faults or {})
        self.sections = dict(sections)
        unknown = (set(self.faults) | set(self.sections)) - set(NAMES)
        if unknown:
            raise TypeError(f"no emulator named {', '.join(sorted(unknown))}")

    def section(self, emulator: type[Emulator[Any]]) -> Any:
        """The emulator's section, an instance of its ``seed_model``."""
        section = self.sections.get(emulator.name)
        if section is None:
            return emulator.seed_model()
        if not isinstance(section, emulator.seed_model):
            raise TypeError(f"the {emulator.name} section is not a {emulator.seed_model.__name__}")
        return section

    @classmethod
    def from_data(cls, data: Any) -> Seed:
        """A seed file's content, validated (``ValidationError`` naming each key path)."""
        fields = dict(_SeedFile.model_validate(data))
        return cls(faults=fields.pop("faults"), **fields)

    def data(self) -> dict[str, Any]:
        return {
            "faults": {name: f.model_dump() for name, f in self.faults.items()},
            **{name: s.model_dump() for name, s in self.sections.items()},
        }


def load_seed(path: Path | None) -> Seed:
    if path is None:
        return Seed()
    from reconciler.source.yaml import parse_text, read_text

    display = str(path)
    text, problem = read_text(path, display)
    if problem or text is None:
        raise InputError([problem] if problem else [])
    docs, problems = parse_text(text, display)
    if problems:
        raise InputError(problems)
    try:
        return Seed.from_data(docs[0].data if docs and docs[0].data else {})
    except ValidationError as exc:
        raise InputError(
            [
                Problem(display, None, None, ".".join(map(str, e["loc"])), e["msg"])
                for e in exc.errors(include_input=False, include_url=False)
            ]
        ) from None


def with_faults(seed: Seed, settings: tuple[str, ...]) -> Seed:
    """The seed with ``PROVIDER.KEY=VALUE`` fault settings added (``sandbox serve --fault``)."""
    faults: dict[str, dict[str, object]] = {
        name: f.model_dump(exclude_defaults=True) for name, f in seed.faults.items()
    }
    problems = []
    for setting in settings:
        target, _, value = setting.partition("=")
        provider, _, key = target.partition(".")
        if not (provider and key and value):
            problems.append(Problem("--fault", None, None, setting, "expected PROVIDER.KEY=VALUE"))
            continue
        if provider not in NAMES:
            why = f"unknown provider; one of {', '.join(NAMES)}"
            problems.append(Problem("--fault", None, None, setting, why))
            continue
        faults.setdefault(provider, {})[key] = value
    try:
        merged = Seed.from_data({**seed.data(), "faults": faults})
    except ValidationError as exc:
        problems += [
            Problem("--fault", None, None, ".".join(map(str, e["loc"][1:])), e["msg"])
            for e in exc.errors(include_input=False, include_url=False)
        ]
    if problems:
        raise InputError(problems)
    return merged
