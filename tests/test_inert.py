"""The neutralisers, one per medium: hostile strings in, their escaped forms out (verbatim)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.inert import (
    commit_line,
    github_data,
    github_property,
    json_text,
    markdown_code,
    markdown_text,
    slack_text,
    terminal,
)

# What a provider's message, a run name or a job value may hold, one attack a case.
CLEAR_SCREEN = "\x1b[2J"
OSC8_LINK = "\x1b]8;;http://x\x1b\\click\x1b]8;;\x1b\\"
C1_CSI = "\x9b31m"
BIDI = "\u202eevil\u202c \u2066x\u2069"
TRAILER = "done\n\nCo-authored-by: x <y@z>"
BELL_CR_BACKSPACE = "a\x07\rb\x08"


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        pytest.param(CLEAR_SCREEN, r"\x1b[2J", id="esc-csi"),
        pytest.param(OSC8_LINK, "\\x1b]8;;http://x\\x1b\\click\\x1b]8;;\\x1b\\", id="osc8"),
        pytest.param(C1_CSI, r"\x9b31m", id="c1-csi"),
        pytest.param(BIDI, r"\u202eevil\u202c \u2066x\u2069", id="bidi"),
        pytest.param(TRAILER, r"done\n\nCo-authored-by: x <y@z>", id="trailer"),
        pytest.param(BELL_CR_BACKSPACE, r"a\x07\rb\x08", id="bel-cr-bs"),
        pytest.param("tab\there\x7f\x00", r"tab\there\x7f\x00", id="tab-del-nul"),
        pytest.param("line\u2028sep\x85", r"line\u2028sep\x85", id="separators"),
        pytest.param("run 12 failed; résumé ✓ C:\\x", "run 12 failed; résumé ✓ C:\\x", id="plain"),
    ],
)
def test_terminal_and_commit_line_show_controls_as_escapes(hostile: str, shown: str) -> None:
    assert terminal(hostile) == shown
    assert commit_line(hostile) == shown


@given(st.text())
def test_terminal_output_is_one_line_of_printable_text(text: str) -> None:
    shown = terminal(text)
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", shown)
    assert len(shown.splitlines()) <= 1


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        pytest.param("a `b` c", r"a \`b\` c", id="code-span"),
        pytest.param("</details>", r"\</details\>", id="details"),
        pytest.param("<img src=x onerror=alert(1)>", r"\<img src=x onerror=alert(1)\>", id="html"),
        pytest.param("&lt;b&gt;", r"\&lt;b\&gt;", id="entity"),
        pytest.param("ping @org/team", "ping @&#8203;org/team", id="mention"),
        pytest.param("see #123, org/repo#7", "see #&#8203;123, org/repo#&#8203;7", id="issue-ref"),
        pytest.param(
            "[x](http://e) ![i](http://e/p.png)", r"\[x\](http://e) !\[i\](http://e/p.png)"
        ),
        pytest.param("a|b", r"a\|b", id="pipe"),
        pytest.param("ends with \\", "ends with \\\\", id="backslash-before-our-pipe"),
        pytest.param("*b* _i_ ~s~", r"\*b\* \_i\_ \~s\~", id="emphasis"),
        pytest.param("two\nlines\x1b[2J", r"two\\nlines\\x1b\[2J", id="controls"),
        pytest.param("state: stopped (prune)", "state: stopped (prune)", id="plain"),
    ],
)
def test_markdown_text_escapes_syntax_references_and_controls(hostile: str, shown: str) -> None:
    assert markdown_text(hostile) == shown


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        pytest.param("orders", "`orders`", id="plain"),
        pytest.param("a`b", "`` a`b ``", id="backtick"),
        pytest.param("x``` `", "```` x``` ` ````", id="backtick-runs"),
        pytest.param("`", "`` ` ``", id="only-backtick"),
        pytest.param("", "` `", id="empty"),
        pytest.param("</details>\n@org", r"`</details>\n@org`", id="html-newline"),
    ],
)
def test_markdown_code_fence_outlasts_any_backticks_inside(hostile: str, shown: str) -> None:
    assert markdown_code(hostile) == shown


@given(st.text(alphabet=st.sampled_from("`a \n<")))
def test_markdown_code_is_one_span_whatever_the_backticks(text: str) -> None:
    code = markdown_code(text)
    fence = re.match("`+", code)
    assert fence is not None
    assert code.endswith(fence.group())
    inside = code[len(fence.group()) : -len(fence.group())]
    assert all(len(run) != len(fence.group()) for run in re.findall("`+", inside))
    assert "\n" not in code


def test_json_text_escapes_what_json_leaves_raw_and_keeps_the_value() -> None:
    value = {"m": f"{CLEAR_SCREEN}{C1_CSI}{BIDI}\x7f\u2028é"}
    encoded = json_text(json.dumps(value, ensure_ascii=False))
    assert encoded == (r'{"m": "\u001b[2J\u009b31m\u202eevil\u202c \u2066x\u2069\u007f\u2028é"}')
    assert json.loads(encoded) == value


def test_json_text_of_ascii_escapes_del_alone() -> None:
    assert json_text('{"m": "a\x7fb"}') == r'{"m": "a\u007fb"}'
    assert json_text('{"m": "plain \\u001b"}') == '{"m": "plain \\u001b"}'


@pytest.mark.parametrize(
    ("hostile", "data", "prop"),
    [
        pytest.param(
            "x\n::error::forged", r"x\n::error::forged", r"x\n%3A%3Aerror%3A%3Aforged", id="line"
        ),
        pytest.param("50%0A off", "50%250A off", "50%250A off", id="runner-escape"),
        pytest.param("a,b:c", "a,b:c", "a%2Cb%3Ac", id="property-ends"),
    ],
)
def test_github_commands_keep_a_value_inside_them(hostile: str, data: str, prop: str) -> None:
    assert github_data(hostile) == data
    assert github_property(hostile) == prop


@given(st.text())
def test_a_github_command_message_is_one_line(text: str) -> None:
    line = f"::error::{github_data(text)}"
    assert len(line.splitlines()) == 1
    assert "%0A" not in line.replace("%25", "")


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("<!channel> deploy failed", "&lt;!channel&gt; deploy failed"),
        ("<@U024BE7LH>", "&lt;@U024BE7LH&gt;"),
        ("<https://evil.example|click here>", "&lt;https://evil.example|click here&gt;"),
        ("a &amp; b", "a &amp;amp; b"),
        ("two\nlines\x1b[2J", "two\\nlines\\x1b[2J"),
    ],
)
def test_slack_text_has_no_mention_link_or_control(hostile: str, shown: str) -> None:
    assert slack_text(hostile) == shown
