"""Pull-request mode: what a proposed ``reconciler.yaml`` changes against a trusted one.

Pure: both configurations are arguments. A provider instance whose configuration differs from
the trusted revision's (hosts, account, credential references, options) is *withheld*: it is
not given credentials nor refreshed, and the change is shown for review instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from reconciler.spec.models import Config


class ConfigChangeItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    old: Any = None
    new: Any = None


class ConfigChange(BaseModel):
    """One change of ``reconciler.yaml`` to review: an instance added, changed or removed, or
    a repository-wide setting (``instance`` None)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance: str | None
    what: str  # "added", "changed", "removed"
    withheld: bool  # the instance is not refreshed until the change is merged
    changes: tuple[ConfigChangeItem, ...] = ()


WITHHELD_REASON = (
    "its configuration changes in this pull request: not refreshed, its credentials are "
    "used only once the change is merged (review the configuration change)"
)


def review_config(trusted: Config | None, proposed: Config) -> tuple[ConfigChange, ...]:
    """Every difference of ``proposed`` from ``trusted`` (None: no trusted configuration, so
    every instance is new)."""
    before = trusted.providers if trusted is not None else {}
    review: list[ConfigChange] = []
    for name in sorted(set(before) | set(proposed.providers)):
        old, new = before.get(name), proposed.providers.get(name)
        if old == new:
            continue
        if old is None:
            review.append(ConfigChange(instance=name, what="added", withheld=True))
        elif new is None:
            review.append(ConfigChange(instance=name, what="removed", withheld=False))
        else:
            items = _diff(old.model_dump(mode="json"), new.model_dump(mode="json"))
            review.append(ConfigChange(instance=name, what="changed", withheld=True, changes=items))
    if trusted is not None:
        settings = _diff(_settings(trusted), _settings(proposed))
        if settings:
            review.append(
                ConfigChange(instance=None, what="changed", withheld=False, changes=settings)
            )
    return tuple(review)


def withheld_instances(review: tuple[ConfigChange, ...]) -> dict[str, str]:
    """The instances not to refresh, each with the reason its specs show."""
    return {c.instance: WITHHELD_REASON for c in review if c.withheld and c.instance is not None}


def _settings(config: Config) -> dict[str, Any]:
    return config.model_dump(mode="json", exclude={"providers"})


def _diff(old: Any, new: Any, path: str = "") -> tuple[ConfigChangeItem, ...]:
    if isinstance(old, dict) and isinstance(new, dict):
        return tuple(
            item
            for key in sorted(set(old) | set(new))
            for item in _diff(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        )
    return () if old == new else (ConfigChangeItem(path=path, old=old, new=new),)
