"""review_config: what a pull request's reconciler.yaml changes against the trusted one."""

from __future__ import annotations

from typing import Any

from reconciler.engine.config_review import (
    ConfigChange,
    ConfigChangeItem,
    review_config,
    withheld_instances,
)
from reconciler.spec.models import Config


def config(providers: dict[str, Any], **settings: Any) -> Config:
    return Config.model_validate(
        {"apiVersion": "reconciler/v1", "kind": "Config", "providers": providers, **settings}
    )


RUNNER = {
    "type": "runner",
    "base_url": "https://api.runner.ctl.io",
    "account": "ACME",
    "credentials": {"username": "env:CLC_USERNAME", "password": "env:CLC_PASSWORD"},
    "options": {"auth_url": "https://api.ctl.io"},
}


def test_an_unchanged_configuration_has_nothing_to_review() -> None:
    assert review_config(config({"ctl": RUNNER}), config({"ctl": RUNNER})) == ()


def test_a_changed_option_withholds_the_instance_and_names_the_field() -> None:
    proposed = {**RUNNER, "options": {"auth_url": "https://evil.example"}}
    review = review_config(config({"ctl": RUNNER}), config({"ctl": proposed}))
    assert review == (
        ConfigChange(
            instance="ctl",
            what="changed",
            withheld=True,
            changes=(
                ConfigChangeItem(
                    path="options.auth_url", old="https://api.ctl.io", new="https://evil.example"
                ),
            ),
        ),
    )
    assert set(withheld_instances(review)) == {"ctl"}


def test_removed_instances_and_settings_are_shown_but_withhold_nothing() -> None:
    review = review_config(config({"ctl": RUNNER}), config({}, prune=True))
    assert [(c.instance, c.what, c.withheld) for c in review] == [
        ("ctl", "removed", False),
        (None, "changed", False),
    ]
    assert review[1].changes == (ConfigChangeItem(path="prune", old=False, new=True),)
    assert withheld_instances(review) == {}


def test_without_a_trusted_configuration_every_instance_is_new() -> None:
    review = review_config(None, config({"ctl": RUNNER}))
    assert [(c.instance, c.what, c.withheld) for c in review] == [("ctl", "added", True)]
