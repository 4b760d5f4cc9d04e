"""Neutralisers: a string that a provider, a spec or a job value controls is shown through the
one for its medium, at the point of rendering, so that it is read and never acted on.

- ``terminal``: control characters (C0, DEL, C1: ESC, CSI, OSC, BEL, CR, backspace, newline)
  and Unicode bidi controls become visible escapes (``\\x1b``, ``\\n``, ``\\u202e``): a value
  is one line that moves no cursor, clears nothing, sets no title or hyperlink and reorders
  no text around it.
- ``commit_line``: the same, so a value adds no line to a commit message (no trailer such as
  ``Co-authored-by:``) and nothing a terminal showing ``git log`` would act on.
- ``markdown_text`` / ``markdown_code``: prose, or a code span, in a GitHub comment: no HTML,
  no link or image, no emphasis, no table break, no @mention or #123 reference.
- ``json_text``: JSON already escapes C0; this escapes the rest (DEL, C1, bidi) in its text.
- ``slack_text``: a Slack message's text: the terminal's escapes, and ``&``, ``<``, ``>`` as
  Slack requires, so no ``<!channel>`` mention, ``<@user>`` or ``<url|link>`` forms.
- ``github_data`` / ``github_property``: the message and a property (file, title) of a GitHub
  Actions workflow command (``::error file=…::message``): the terminal's escapes keep it one
  line (no second command), and ``%`` is escaped as the runner decodes ``%0A`` and the like;
  in a property, ``:`` and ``,`` too, which would end it.

Backslashes are left as they are in terminal text, so ordinary values print unchanged; the
escapes only need to be visible, not reversible.
"""

from __future__ import annotations

import re

# Trojan Source (CVE-2021-42574): embeddings, overrides, isolates, and the invisible marks.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Line and paragraph separators, which some viewers break lines at.
_SEPARATORS = "\u2028\u2029"
_C0 = "".join(map(chr, range(0x20)))
_C1 = "".join(map(chr, range(0x80, 0xA0)))
_NOT_ESCAPED_BY_JSON = "\x7f" + _C1 + _BIDI + _SEPARATORS
_CONTROLS = _C0 + _NOT_ESCAPED_BY_JSON
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


_VISIBLE = str.maketrans({char: _escape(char) for char in _CONTROLS})
# In JSON text these can only stand inside strings, where \\uXXXX is the same character.
_JSON_ESCAPES = str.maketrans({char: f"\\u{ord(char):04x}" for char in _NOT_ESCAPED_BY_JSON})

# Backslash-escaped, each is shown as itself: `code`, *emphasis*, _emphasis_, ~strike~,
# [link](x) and ![image](x), <html> and &entities;, table cells, and escapes of our own.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_~\[\]<>&|])")
# GitHub links @user, @org/team (notifying them) and #123 (a cross-reference in that issue)
# in text, however escaped; a zero-width space after the sign stops it, as Renovate does.
_GITHUB_REFERENCE = re.compile(r"([@#])(?=\w)")
_BACKTICKS = re.compile(r"`+")


def terminal(text: str) -> str:
    """``text`` as one line of a terminal's output, every control shown as an escape."""
    return text.translate(_VISIBLE)


def commit_line(text: str) -> str:
    """``text`` as (part of) one line of a commit message."""
    return terminal(text)


def json_text(text: str) -> str:
    """JSON text with DEL, C1 and bidi controls escaped as ``\\uXXXX`` (the same value)."""
    if text.isascii() and "\x7f" not in text:  # two scans in C; most text is ASCII
        return text
    return text.translate(_JSON_ESCAPES)


def slack_text(text: str) -> str:
    """``text`` within a Slack message's ``text``."""
    return terminal(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def github_data(text: str) -> str:
    """``text`` as the message of a workflow command (what follows ``::``)."""
    return terminal(text).replace("%", "%25")


def github_property(text: str) -> str:
    """``text`` as a property value of a workflow command (``file=``, ``title=``)."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def markdown_text(text: str) -> str:
    """``text`` as literal prose within a line of GitHub markdown."""
    escaped = _MARKDOWN_SYNTAX.sub(r"\\\1", terminal(text))
    return _GITHUB_REFERENCE.sub("\\1&#8203;", escaped)


def markdown_code(text: str) -> str:
    """``text`` as a code span (within it, markdown, HTML and references are inert): the fence
    is one backtick longer than any run of backticks inside, so none can close it."""
    content = terminal(text)
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=0)
    fence = "`" * (longest + 1)
    if longest:
        # A space each side is stripped by the parser: lets the content begin or end with `.
        content = f" {content} "
    return f"{fence}{content or ' '}{fence}"  # `` would be two backticks, not a span
