"""Provider adapters for a workspace: credentials resolved and every host checked before
any adapter exists, so a refused instance stops the command before any request."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from reconciler.app.workspace import Environment, Workspace
from reconciler.errors import (
    InputError,
    Problem,
)
from reconciler.providers.base import Provider, ProviderContext, ProviderType, SecretUnavailable
from reconciler.providers.credentials import resolve, variable_refusal
from reconciler.providers.hosts import AllowedHost, parse_allowed_host, refusal
from reconciler.providers.registry import provider_types
from reconciler.source.load import (
    config_problem,
    provider_options,
)
from reconciler.source.yaml import Locator
from reconciler.spec.models import Config, ProviderInstance

# Used under --sandbox for a reference that cannot be resolved; shaped as a JWT (header
# {"alg":"none","typ":"JWT"}, payload {"sub":"sandbox"}) so that bearer-JWT emulators take it.
SANDBOX_CREDENTIAL = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJzYW5kYm94In0.sandbox"
# Under --sandbox, an unset SSH key reference: a private key in form, no key in substance.
SANDBOX_SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nc2FuZGJveCBzdGFuZC1pbg==\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


class ProviderPool:
    """Adapters kept for a whole command (a whole ``watch`` process): a Runner login or a
    Matatika token grant serves every phase and cycle, and a rate limiter keeps what the API
    said. An instance whose configuration or credentials change gets a new adapter."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[str, Provider]] = {}

    async def get(
        self,
        ws: Workspace,
        env: Environment,
        instances: Sequence[str] | None = None,
        withheld: Collection[str] = (),
    ) -> dict[str, Provider]:
        """Adapters for ``instances`` (all when None). Every configured instance is checked
        (references, the hosts its credentials would go to) before any adapter exists, so a
        refused one stops the command before any request; ``withheld`` ones (pull-request
        mode) without reading their credentials."""
        providers = {}
        for kind, context in checked_contexts(ws, env, instances, withheld):
            identity = _identity(kind, context)
            held = self._open.get(context.instance)
            if held is None or held[0] != identity:
                if held is not None:
                    await held[1].aclose()
                held = (identity, kind.create(context))
                self._open[context.instance] = held
            providers[context.instance] = held[1]
        return providers

    def adapters(self) -> dict[str, Provider]:
        """The adapters open now, by instance (for metrics)."""
        return {instance: provider for instance, (_, provider) in self._open.items()}

    async def aclose(self) -> None:
        await asyncio.gather(*(provider.aclose() for _, provider in self._open.values()))
        self._open.clear()


def _identity(kind: ProviderType, context: ProviderContext) -> str:
    """What an adapter was made from, as a digest (no second copy of the credentials)."""
    made_from = [
        kind.name,
        context.config.model_dump(mode="json"),
        sorted(context.credentials.items()),
        context.options.model_dump(mode="json") if context.options is not None else None,
        id(context.transport),
    ]
    return hashlib.sha256(json.dumps(made_from, sort_keys=True).encode()).hexdigest()


@asynccontextmanager
async def open_providers(
    ws: Workspace, env: Environment, instances: Sequence[str] | None = None
) -> AsyncIterator[dict[str, Provider]]:
    """Adapters for one use, closed after it (``ProviderPool`` keeps them instead)."""
    pool = ProviderPool()
    try:
        yield await pool.get(ws, env, instances)
    finally:
        await pool.aclose()


def checked_contexts(
    ws: Workspace,
    env: Environment,
    instances: Sequence[str] | None = None,
    withheld: Collection[str] = (),
) -> list[tuple[ProviderType, ProviderContext]]:
    """Each used instance's type and adapter context; ``InputError`` with every problem of
    every configured instance (credentials resolved here, kept in memory). A ``withheld``
    instance (its configuration is a pull request's, not yet trusted) gets no context, and
    its credential references are never resolved: no variable, no file is read or even
    looked up for it; only what its configuration says is checked (hosts, reference names)."""
    types = provider_types()
    shared = _shared_references(ws.config, types)
    contexts: list[tuple[ProviderType, ProviderContext]] = []
    problems: list[Problem] = []
    locator = Locator()
    for name, instance in ws.config.providers.items():
        provider_type = types[instance.type]
        if name in withheld:
            reasons = _unread_reasons(env, instance, provider_type, shared)
        else:
            used = instances is None or name in instances
            context, reasons = _checked_context(
                env, ws.root, name, instance, provider_type, shared, used
            )
            if used:
                contexts.append((provider_type, context))
        problems += [_instance_problem(ws, locator, name, key, why) for key, why in reasons.items()]
    if problems:
        raise InputError(problems)
    return contexts


def _checked_context(
    env: Environment,
    root: Path,
    name: str,
    instance: ProviderInstance,
    provider_type: ProviderType,
    shared: Mapping[str, set[str]],
    used: bool,
) -> tuple[ProviderContext, dict[str, str]]:
    """The instance's adapter context, and why (by key path) it may not have one."""
    found = resolve(instance.credentials, root=root, environ=env.environ)
    refused = {**found.refused, **_shared_reasons(instance, shared)}
    # Hostile input is refused everywhere; absence matters only where the instance is used.
    values, unresolved = found.values, found.unresolved if used else {}
    if env.sandbox_url is not None and unresolved:
        # the type's primary credentials, all from the sandbox: no half sets
        keys = provider_type.credential_keys or tuple(instance.credentials)
        values, unresolved = dict.fromkeys(keys, SANDBOX_CREDENTIAL), {}
    instance, allowed = _sandboxed(env, instance, provider_type)
    reasons = {f"credentials.{key}": why for key, why in {**unresolved, **refused}.items()}
    reasons.update(_host_refusals(provider_type, instance, allowed))
    options = provider_options(provider_type, instance) if used else None
    secrets = _job_secrets(env, root, shared)
    context = ProviderContext(name, instance, values, env.transport, options, secrets)
    return context, reasons


def _unread_reasons(
    env: Environment,
    instance: ProviderInstance,
    provider_type: ProviderType,
    shared: Mapping[str, set[str]],
) -> dict[str, str]:
    """What is refused in a withheld instance's configuration, from its text alone: a host
    its credentials may not go to, a variable that is no provider's, a reference shared with
    another provider type. Nothing is resolved: no reference's value is read."""
    refused = {
        key: why
        for key, reference in instance.credentials.items()
        if reference.startswith("env:") and (why := variable_refusal(reference[4:]))
    }
    refused.update(_shared_reasons(instance, shared))
    reasons = {f"credentials.{key}": why for key, why in refused.items()}
    instance, allowed = _sandboxed(env, instance, provider_type)
    reasons.update(_host_refusals(provider_type, instance, allowed))
    return reasons


def _sandboxed(
    env: Environment, instance: ProviderInstance, provider_type: ProviderType
) -> tuple[ProviderInstance, Sequence[AllowedHost]]:
    """The instance as the command reaches it (under --sandbox, pointed at the sandbox),
    and the hosts its credentials may go to besides its type's own."""
    if env.sandbox_url is None:
        return instance, env.allowed_hosts
    sandbox_host = parse_allowed_host(urlsplit(env.sandbox_url).netloc)
    return provider_type.for_sandbox(instance, env.sandbox_url), (
        *env.allowed_hosts,
        sandbox_host,
    )


def _job_secrets(
    env: Environment, root: Path, shared: Mapping[str, set[str]]
) -> Callable[[str], str]:
    """Reads a job's secret reference (a Runner SSH key) when its start is built, under the
    rules of provider credentials: the same variables and files refused, an unset one the
    sandbox's stand-in under --sandbox, and none that an instance uses as its credential.
    Read at each start, so a rotated key is sent as it is now."""

    def read(reference: str) -> str:
        if reference in shared:  # one secret, one use: a login is not an SSH key
            raise SecretUnavailable(
                f"{reference} is a provider credential in reconciler.yaml (of "
                f"{', '.join(sorted(shared[reference]))}); a job's secret is a reference of "
                "its own"
            )
        found = resolve({"secret": reference}, root=root, environ=env.environ)
        why = found.why("secret")
        if "secret" in found.values:
            return found.values["secret"]
        if env.sandbox_url is not None and "secret" in found.unresolved:
            return SANDBOX_SSH_KEY
        raise SecretUnavailable(why or reference)  # each reason names its variable or file

    return read


def _instance_problem(ws: Workspace, locator: Locator, name: str, key: str, why: str) -> Problem:
    return config_problem(ws.config_path, locator, ["providers", name, *key.split(".")], why)


def _host_refusals(
    provider_type: ProviderType, instance: ProviderInstance, allowed: Sequence[AllowedHost]
) -> dict[str, str]:
    """Each URL of the instance that would carry a credential to a host not allowed."""
    urls = provider_type.credential_urls(instance)
    reasons = {
        key: refusal(url, provider_type.production_hosts, allowed) for key, url in urls.items()
    }
    return {key: why for key, why in reasons.items() if why}


def _shared_references(config: Config, types: Mapping[str, ProviderType]) -> dict[str, set[str]]:
    """The provider types using each credential reference."""
    users: dict[str, set[str]] = {}
    for instance in config.providers.values():
        for reference in instance.credentials.values():
            users.setdefault(reference, set()).add(types[instance.type].name)
    return users


def _shared_reasons(instance: ProviderInstance, users: Mapping[str, set[str]]) -> dict[str, str]:
    """A reference also used by another provider type would send one provider's secret to
    another (e.g. a Vonage JWT to Matatika): refused wherever it appears."""
    return {
        key: f"{reference} is also used by provider type "
        f"{', '.join(sorted(users[reference] - {instance.type}))}; "
        "a credential goes to one provider type only"
        for key, reference in instance.credentials.items()
        if len(users[reference]) > 1
    }
