"""Colour through the real entry point: off when not a terminal (as here), on with
FORCE_COLOR, off again with NO_COLOR or --no-color."""

from __future__ import annotations

import pytest

from tests.conftest import Repo, jobrun

GREEN_START = "\x1b[32m  + start\x1b[0m"


@pytest.mark.parametrize(
    ("environ", "args", "coloured"),
    [
        ({}, (), False),
        ({"FORCE_COLOR": "1"}, (), True),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, (), False),
        ({"FORCE_COLOR": "1"}, ("--no-color",), False),
    ],
    ids=["not-a-terminal", "force-color", "no-color-wins", "the-flag"],
)
def test_plan_and_apply_are_coloured_as_asked(
    repo: Repo,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    args: tuple[str, ...],
    coloured: bool,
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    repo.spec("a.yaml", jobrun("nightly"))
    code, out, _ = repo.run(*args, "--sandbox", "plan")
    assert code == 0
    assert (GREEN_START in out) is coloured
    assert ("\x1b" in out) is coloured
    code, out, _ = repo.run(*args, "--sandbox", "apply", "--auto-approve")
    assert code == 0
    assert out.count(GREEN_START) == (2 if coloured else 0)  # the plan, then what was done


def test_every_coloured_kind_is_an_action_kind() -> None:
    from reconciler.engine.actions import ActionKind
    from reconciler.render.style import COLOURS

    assert set(COLOURS) <= {kind.value for kind in ActionKind}
