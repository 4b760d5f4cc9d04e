"""Turn ``reconciler.yaml`` and spec files into validated models, or one InputError.

Every problem found is reported, each as ``file:line:col: key.path: reason``; nothing past
this module sees raw YAML data or a pydantic ValidationError. Spec files are read in
``source.specs``, messages made in ``source.problems``; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from reconciler.errors import InputError, Problem, did_you_mean, display_path
from reconciler.providers.base import ProviderType
from reconciler.source.paths import lockfile_problem, spec_path_problems
from reconciler.source.problems import config_problem as config_problem
from reconciler.source.problems import validation_problems
from reconciler.source.specs import LoadedSpec as LoadedSpec
from reconciler.source.specs import load_specs as load_specs
from reconciler.source.specs import spec_files as spec_files
from reconciler.source.yaml import Document, Locator, PathPart, parse_text, read_text
from reconciler.spec.durations import format_duration
from reconciler.spec.models import Config, ProviderInstance, StateBackend


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
    if (
        check_paths
        and path.is_symlink()
        and path.resolve().parent != path.absolute().parent.resolve()
    ):
        # The repository is the directory holding reconciler.yaml: a link to a file elsewhere
        # would read a configuration (and specs, and a lockfile) from outside it.
        reason = "is a symbolic link to a file in another directory; not read"
        raise InputError([Problem(display, None, None, "", reason)])
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
        bad = validation_problems(exc, path=path, document=docs[0], locator=locator, model=Config)
        raise InputError(bad + _further_problems(settings, providers)) from None
    bad = [
        problem
        for name, instance in config.providers.items()
        for problem in _instance_problems(path, docs[0], locator, name, instance, providers)
    ]
    bad += _lease_problems(path, locator, data, config)
    if bad or (settings and settings.problems):
        raise InputError(bad + _further_problems(settings, providers))
    return config


def _lease_problems(
    path: Path, locator: Locator, data: dict[Any, Any], config: Config
) -> list[Problem]:
    """With the state in PostgreSQL, a request that acts is sent only while its timeout and a
    tenth of the lease are left of the lease, which its renewals keep above 63% of it: a
    timeout longer than half the lease would hold every start back. Told at the timeout
    when it is set, else at the lease."""
    if config.state.backend is not StateBackend.POSTGRES:
        return []
    lease = config.state.lease
    problems = []
    for name, instance in config.providers.items():
        if 2 * instance.timeout <= lease:
            continue
        raw = data.get("providers", {}).get(name)
        parts: list[PathPart] = (
            ["providers", name, "timeout"]
            if isinstance(raw, dict) and "timeout" in raw
            else ["state", "lease"]
        )
        reason = (
            f"provider {name}'s timeout ({format_duration(instance.timeout)}) is more than half "
            f"the state's lease ({format_duration(lease)}): a start is sent only while its "
            "timeout and a tenth of the lease are left of the lease; make the lease at least "
            f"{format_duration(2 * instance.timeout)} or the timeout at most "
            f"{format_duration(lease // 2)}"
        )
        problems.append(config_problem(path, locator, parts, reason))
    return problems


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
    problems += _unknown_credentials(path, locator, name, instance, provider)
    try:
        provider_options(provider, instance)
    except ValidationError as exc:
        prefix: list[PathPart] = ["providers", name, "options"]
        problems += validation_problems(
            exc,
            path=path,
            document=document,
            locator=locator,
            prefix=prefix,
            model=provider.options_model,
        )
    return problems


def _unknown_credentials(
    path: Path, locator: Locator, name: str, instance: ProviderInstance, provider: ProviderType
) -> list[Problem]:
    """A credential the type does not take: a typo (``api_kye``) would otherwise pass, and
    the reference be resolved for nothing. Types that declare no keys take any."""
    known = {
        *provider.credential_keys,
        *(k for keys in provider.credential_alternatives for k in keys),
    }
    if not known:
        return []
    listed = ", ".join(sorted(known))
    return [
        config_problem(
            path,
            locator,
            ["providers", name, "credentials", key],
            f"unknown credential for {instance.type} (it takes {listed}){did_you_mean(key, known)}",
        )
        for key in sorted(set(instance.credentials) - known)
    ]


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
