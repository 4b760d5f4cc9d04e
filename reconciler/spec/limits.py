"""Bounds every value must keep so that the providers and Python can take it, and the rule of
each pattern in words (shown instead of the regular expression)."""

from __future__ import annotations

# An id that goes into a URL path (job, pipeline, workspace, account, host): no '/', no '..',
# no spaces or controls, so a value cannot reach another endpoint.
API_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
API_ID_RULE = (
    "letters, digits and '.', '_', ':', '@', '-', starting with a letter or digit, "
    "at most 128 characters"
)

VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
VARIABLE_NAME_RULE = "letters, digits and '_', not starting with a digit, at most 128 characters"

INT64_MAX = 2**63 - 1  # ids the APIs store as 64-bit integers
MAX_TEXT = 64 * 1024  # characters in one free-text value (a variable's expression)
MAX_ITEMS = 1000  # entries in one list or mapping of a job
MAX_DURATION = 366 * 86400  # seconds: past this, date arithmetic overflows long before use
