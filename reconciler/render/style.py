"""Colour for terminals, in the style Terraform users know: green ``+``, red ``-``, yellow
``-/+``. Only our own symbols and words are coloured, never a value (values pass through
``inert.terminal``, which shows any escape a value holds as text).

On when standard output is a terminal; ``--no-color`` or ``NO_COLOR`` (any value, see
no-color.org) turn it off, ``FORCE_COLOR`` (any value but ``0``) on, as CI systems set it.
"""

from __future__ import annotations

from collections.abc import Mapping

import click

# By action kind (``ActionKind`` values: a StrEnum member finds its entry). Keyed by name,
# not by the enum, so that the CLI's start-up does not import the engine for its colours.
COLOURS: dict[str, dict[str, object]] = {
    "start": {"fg": "green"},
    "retry": {"fg": "green"},
    "replace": {"fg": "yellow"},
    "stop": {"fg": "red"},
    "adopt": {"fg": "cyan"},
    "forget": {"fg": "magenta"},
    "error": {"fg": "red", "bold": True},
    "failed": {"fg": "red"},
    "drift": {"fg": "yellow"},
    "missed": {"fg": "yellow"},
    "blocked": {"fg": "yellow"},
}


def wanted(environ: Mapping[str, str], *, no_color: bool, is_terminal: bool) -> bool:
    if no_color or environ.get("NO_COLOR"):
        return False
    force = environ.get("FORCE_COLOR")
    if force is not None and force != "":
        return force != "0"
    return is_terminal


class Style:
    """Applies colour, or nothing: renderers take one and never ask the environment."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def kind(self, kind: str, text: str) -> str:
        colour = COLOURS.get(kind)
        if not self.enabled or colour is None:
            return text
        return click.style(text, **colour)  # type: ignore[arg-type]

    def bold(self, text: str) -> str:
        return click.style(text, bold=True) if self.enabled else text


PLAIN = Style(enabled=False)
