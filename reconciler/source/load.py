"""Turn ``reconciler.yaml`` and spec files into validated models, or one InputError.

Every problem found is reported, each as ``file:line:col: key.path: reason``; nothing past
this module sees raw YAML data or a pydantic ValidationError.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.errors import InputError, Problem, shown_key_path
from reconciler.providers.base import ProviderType
from reconciler.source.paths import lockfile_problem, spec_path_problems
from reconciler.source.yaml import Document, Locator, PathPart, parse_text, read_text
from reconciler.spec.limits import (
    API_ID_PATTERN,
    API_ID_RULE,
    VARIABLE_NAME_PATTERN,
    VARIABLE_NAME_RULE,
)
from reconciler.spec.models import (
    NAME_PATTERN,
    TYPE_PATTERN,
    TYPE_RULE,
    Config,
    JobRun,
    ProviderInstance,
)

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedSpec:
    """A valid JobRun with its provider-validated ``job`` and where it was read."""

    run: JobRun
    job: dict[str, Any]  # canonical form from the provider's job model
    provider: ProviderType
    scope: str | None  # the job definition / pipeline the run belongs to, if the API has one
    file: str  # relative to the repository root, with '/' separators
    document: int


def display_path(path: Path) -> str:
    """The path as the user would type it from the current directory."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


_REASONS = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "string_type": "must be a string",
    "string_unicode": "holds half of a UTF-16 surrogate pair, not a character",
    "timezone_aware": "needs a time zone, e.g. 2026-12-01T02:00:00Z",
}


# A pattern's rule in words: a regular expression is no message for a person.
_PATTERN_RULES = {
    NAME_PATTERN: "lowercase letters, digits and '-', starting and ending with a letter or "
    "digit, at most 63 characters",
    API_ID_PATTERN: API_ID_RULE,
    VARIABLE_NAME_PATTERN: VARIABLE_NAME_RULE,
    TYPE_PATTERN: TYPE_RULE,
    r"^https?://": "an http:// or https:// URL",
}


def _reason(error: Mapping[str, Any]) -> str:
    reason = _REASONS.get(str(error["type"]))
    if reason:
        return reason
    context = error.get("ctx", {})
    bounds = {
        "less_than_equal": ("at most", "le"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "greater_than": ("more than", "gt"),
        "too_short": ("at least", "min_length"),
        "too_long": ("at most", "max_length"),
        "string_too_long": ("at most", "max_length"),
    }
    if error["type"] in bounds:
        words, name = bounds[str(error["type"])]
        unit = " item(s)" if "too" in error["type"] else ""
        unit = " characters" if error["type"] == "string_too_long" else unit
        return f"{words} {context.get(name)}{unit}"
    if error["type"] == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        return _PATTERN_RULES.get(pattern, "not of the form expected here")
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def validation_problems(
    exc: ValidationError,
    *,
    path: Path,
    document: Document,
    locator: Locator,
    prefix: Sequence[PathPart] = (),
) -> list[Problem]:
    """One Problem per pydantic error, placed at the deepest node that exists."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        parts = [*prefix, *(p for p in error["loc"] if isinstance(p, (str, int)))]
        reason = _reason(error)
        if parts and parts[-1] == "[key]":  # pydantic's name for "the key itself"
            wrong_type = error["type"] == "string_type"
            reason = "a key here must be a string" if wrong_type else f"not a valid key: {reason}"
            parts = parts[:-1]
        line, column = locator.locate(path, document.index, parts)
        problems.append(Problem(document.file, line, column, shown_key_path(parts), reason))
    return problems


def config_problem(path: Path, locator: Locator, parts: Sequence[PathPart], reason: str) -> Problem:
    """A problem of ``reconciler.yaml`` at the deepest existing node of ``parts``."""
    line, column = locator.locate(path, 0, parts)
    return Problem(display_path(path), line, column, shown_key_path(parts), reason)


def load_config(
    path: Path, providers: Mapping[str, ProviderType], *, check_paths: bool = True
) -> Config:
    """Read ``reconciler.yaml``; unknown provider types and bad options are errors.

    ``check_paths``: whether the paths it names (specs, lockfile) are checked against the
    files beside it; not for a configuration read from another revision.
    """
    display = display_path(path)
    if not path.exists():
        raise InputError([Problem(display, None, None, "", "no such file; run `reconciler init`")])
    text, problem = read_text(path, display)
    if problem or text is None:
        raise InputError([problem] if problem else [])
    docs, problems = parse_text(text, display)
    if problems:
        raise InputError(problems)
    docs = [d for d in docs if d.data is not None]
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise InputError([Problem(display, 1, 1, "", "expected one mapping (kind: Config)")])
    locator = Locator()
    data = docs[0].data
    settings = _Settings(path, data, locator) if check_paths else None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        bad = validation_problems(exc, path=path, document=docs[0], locator=locator)
        raise InputError(bad + _further_problems(settings, providers)) from None
    bad = [
        problem
        for name, instance in config.providers.items()
        for problem in _instance_problems(path, docs[0], locator, name, instance, providers)
    ]
    if bad or (settings and settings.problems):
        raise InputError(bad + _further_problems(settings, providers))
    return config


class _Settings:
    """The paths ``reconciler.yaml`` names, checked as far as they can be read: a problem per
    bad one, and the spec directories that can be read."""

    def __init__(self, path: Path, data: dict[Any, Any], locator: Locator) -> None:
        self.path = path
        self.data = data
        root = path.resolve().parent
        config = path.resolve()
        directories = data.get("specs", ["specs"])
        if not isinstance(directories, list) or not all(isinstance(d, str) for d in directories):
            directories = []  # the model reports it
        found = spec_path_problems(root, directories, config)
        bad = {parts[1] for parts, _ in found}
        self.directories = [d for i, d in enumerate(directories) if i not in bad]
        lockfile = data.get("lockfile", "reconciler.lock")
        if isinstance(lockfile, str):
            at_lockfile = lockfile_problem(root, lockfile, directories, config)
            found += [at_lockfile] if at_lockfile else []
        if "specs" not in data:  # the default: the problem is at no list item
            found = [(["specs"] if parts[0] == "specs" else parts, why) for parts, why in found]
        self.problems = [config_problem(path, locator, parts, why) for parts, why in found]


def _further_problems(
    settings: _Settings | None, providers: Mapping[str, ProviderType]
) -> list[Problem]:
    """The problems of the paths, and of the specs read from the good directories: every
    problem in one run."""
    if settings is None:
        return []
    return settings.problems + _spec_problems(settings, providers)


def _spec_problems(settings: _Settings, providers: Mapping[str, ProviderType]) -> list[Problem]:
    """The specs' problems, when ``reconciler.yaml`` has some too.

    The specs are checked against what can be read of the config: its good spec directories
    and each instance's type. When even that is unclear, only the config's problems are reported.
    """
    raw_instances = settings.data.get("providers", {})
    if not settings.directories or not isinstance(raw_instances, dict):
        return []
    instances = {}
    for name, raw in raw_instances.items():
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(name, str) or not isinstance(kind, str) or kind not in providers:
            return []
        instances[name] = ProviderInstance.model_construct(type=kind, base_url="")
    readable = Config.model_construct(
        api_version="reconciler/v1",
        kind="Config",
        providers=instances,
        specs=settings.directories,
    )
    try:
        load_specs(settings.path.resolve().parent, readable, providers)
    except InputError as exc:
        return exc.problems
    return []


def _instance_problems(
    path: Path,
    document: Document,
    locator: Locator,
    name: str,
    instance: ProviderInstance,
    providers: Mapping[str, ProviderType],
) -> list[Problem]:
    provider = providers.get(instance.type)
    if provider is None:
        known = ", ".join(sorted(providers))
        reason = f"unknown provider type {instance.type!r} (known: {known})"
        return [config_problem(path, locator, ["providers", name, "type"], reason)]
    problems = []
    if provider.requires_account and not instance.account:
        reason = f"account is required for {instance.type}"
        problems.append(config_problem(path, locator, ["providers", name, "account"], reason))
    given = set(instance.credentials)
    alternatives = [set(keys) for keys in provider.credential_alternatives]
    if not any(keys <= given for keys in alternatives):
        instead = "".join(f" (or {' and '.join(map(repr, sorted(keys)))})" for keys in alternatives)
        for key in sorted(set(provider.credential_keys) - given):
            reason = f"missing credential {key!r} for {instance.type}{instead}"
            parts = ["providers", name, "credentials"]
            problems.append(config_problem(path, locator, parts, reason))
    try:
        provider_options(provider, instance)
    except ValidationError as exc:
        prefix: list[PathPart] = ["providers", name, "options"]
        problems += validation_problems(
            exc, path=path, document=document, locator=locator, prefix=prefix
        )
    return problems


def provider_options(provider: ProviderType, instance: ProviderInstance) -> BaseModel | None:
    """The instance's ``options`` validated by the provider's model (unknown keys refused)."""
    if provider.options_model is None:
        if instance.options:
            raise ValidationError.from_exception_data(
                "options",
                [
                    {"type": "extra_forbidden", "loc": (key,), "input": None}
                    for key in sorted(instance.options)
                ],
            )
        return None
    return provider.options_model.model_validate(instance.options)


def spec_files(root: Path, directories: Sequence[str]) -> tuple[list[Path], list[Problem]]:
    """Spec files under the directories, and a Problem for each that leads outside ``root``
    or is no regular file (a FIFO would block the read, a device never end it)."""
    files: set[Path] = set()
    for directory in directories:
        base = root / directory
        if base.is_file():
            files.add(base)
            continue
        for suffix in SPEC_SUFFIXES:
            files.update(p for p in base.rglob(f"*{suffix}") if not p.is_dir())
    inside, problems = [], []
    top = root.resolve()
    seen: set[Path] = set()  # a file reached through links is read once
    for path in sorted(files):
        target = path.resolve()
        if target in seen:
            continue
        seen.add(target)
        if top not in target.parents:
            reason = f"leads outside the repository (to {target}); not read"
            problems.append(Problem(display_path(path), None, None, "", reason))
        elif not target.is_file():
            problems.append(
                Problem(display_path(path), None, None, "", "not a regular file; not read")
            )
        else:
            inside.append(path)
    return inside, problems


class _SpecReader:
    """Collects problems across every file, so that one run reports them all."""

    def __init__(self, root: Path, config: Config, providers: Mapping[str, ProviderType]):
        self.root = root
        self.config = config
        self.providers = providers
        self.locator = Locator()
        self.problems: list[Problem] = []
        self.specs: list[LoadedSpec] = []
        self.paths: dict[str, Path] = {}

    def read(self, path: Path) -> None:
        display = display_path(path)
        self.paths[display] = path
        text, problem = read_text(path, display)
        if problem or text is None:
            self.problems.extend([problem] if problem else [])
            return
        docs, problems = parse_text(text, display)
        self.problems.extend(problems)
        for doc in docs:
            if doc.data is not None:
                self._document(path, doc)

    def _problem(self, path: Path, doc: Document, parts: list[PathPart], reason: str) -> Problem:
        line, column = self.locator.locate(path, doc.index, parts)
        return Problem(doc.file, line, column, shown_key_path(parts), reason)

    def _document(self, path: Path, doc: Document) -> None:
        if not isinstance(doc.data, dict):
            self.problems.append(self._problem(path, doc, [], "expected a mapping (kind: JobRun)"))
            return
        try:
            run = JobRun.model_validate(doc.data)
        except ValidationError as exc:
            self.problems.extend(
                validation_problems(exc, path=path, document=doc, locator=self.locator)
            )
            self._job(path, doc, _raw_field(doc.data, "provider"), _raw_field(doc.data, "job"))
            return
        checked = self._job(path, doc, run.spec.provider, run.spec.job)
        if checked is not None:
            job, provider = checked
            relative = path.absolute().relative_to(self.root.absolute()).as_posix()
            scope = provider.scope(job)
            self.specs.append(LoadedSpec(run, job, provider, scope, relative, doc.index))

    def _job(
        self, path: Path, doc: Document, provider: object, raw_job: object
    ) -> tuple[dict[str, Any], ProviderType] | None:
        """The job block validated by its provider's model, in canonical form."""
        if not isinstance(provider, str):
            return None
        instance = self.config.providers.get(provider)
        if instance is None:
            declared = ", ".join(sorted(self.config.providers)) or "none"
            reason = (
                f"unknown provider instance {provider!r} (declared in reconciler.yaml: {declared})"
            )
            self.problems.append(self._problem(path, doc, ["spec", "provider"], reason))
            return None
        try:
            provider = self.providers[instance.type]
            job = provider.job_model.model_validate(raw_job)
        except ValidationError as exc:
            self.problems.extend(
                validation_problems(
                    exc, path=path, document=doc, locator=self.locator, prefix=["spec", "job"]
                )
            )
            return None
        return job.model_dump(mode="json", exclude_defaults=True), provider

    def check_duplicates(self) -> None:
        first: dict[str, LoadedSpec] = {}
        for spec in self.specs:
            name = spec.run.metadata.name
            if name not in first:
                first[name] = spec
                continue
            here = self._place(spec)
            there = self._place(first[name])
            self.problems.append(
                Problem(
                    here[0],
                    here[1],
                    here[2],
                    "metadata.name",
                    f"duplicate name {name!r} (also defined at {there[0]}:{there[1]}:{there[2]})",
                )
            )

    def _place(self, spec: LoadedSpec) -> tuple[str, int | None, int | None]:
        path = self.root / spec.file
        display = display_path(path)
        line, column = self.locator.locate(path, spec.document, ["metadata", "name"])
        return display, line, column


def _raw_field(data: dict[Any, Any], name: str) -> object:
    spec = data.get("spec")
    return spec.get(name) if isinstance(spec, dict) else None


def load_specs(
    root: Path, config: Config, providers: Mapping[str, ProviderType]
) -> list[LoadedSpec]:
    """Every JobRun under the configured directories, sorted by name; or one InputError."""
    reader = _SpecReader(root, config, providers)
    for directory in config.specs:
        if not (root / directory).exists():
            reader.problems.append(
                Problem("reconciler.yaml", None, None, "specs", f"no such directory: {directory}")
            )
    paths, outside = spec_files(root, config.specs)
    reader.problems.extend(outside)
    for path in paths:
        reader.read(path)
    reader.check_duplicates()
    if reader.problems:
        raise InputError(reader.problems)
    return sorted(reader.specs, key=lambda s: s.run.metadata.name)
