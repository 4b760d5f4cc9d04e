"""Hypothesis strategies for odd requests, and an interpreter that sends them to the in-process
sandbox: out-of-range numbers, odd unicode (lone surrogates, NUL, bidi controls), extreme dates
and zones, malformed bodies; ids that exist are reused from earlier answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.sandbox.inprocess import SandboxClient

KNOWN = "\x00known:"  # + a kind: a path segment filled with an id an earlier answer carried
SPECIAL_TEXT = [
    "",
    " ",
    "\x00",
    "\ud800",
    "a\udfffb",
    "\u202e",
    "\U0010ffff",
    "=",
    "a=b&c",
    "%",
    "%00",
    "..",
    "/",
    "\\",
    "null",
    "1e400",
    "NaN",
    "-0",
    "\u0661\u0662",  # Arabic-Indic digits
    "\uff19",  # a fullwidth nine: int() takes it
    "1_000",
    " 7 ",
    "x" * 300,
]
SPECIAL_NUMBERS = [0, -1, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**20, -(2**63)]

odd_text = st.one_of(
    st.text(st.characters(categories=["L", "N", "P", "S", "Z", "C"]), max_size=10),
    st.sampled_from(SPECIAL_TEXT),
)
numbers = st.one_of(
    st.sampled_from(SPECIAL_NUMBERS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=6,
)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
dates = st.one_of(
    st.builds(
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        offsets,
    ),
    st.builds(  # the first and last day of the calendar, in any zone
        lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
        st.datetimes(max_value=datetime(1, 1, 2)) | st.datetimes(min_value=datetime(9999, 12, 31)),
        offsets,
    ),
    st.datetimes(min_value=datetime(1, 1, 1)).map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2026-02-30T00:00:00Z",
            "2026-12-01T00:00:00",
            "2026-12-01",
            "now",
        ]
    ),
    odd_text,
)
digits = st.one_of(numbers.map(str), odd_text, st.sampled_from(["1", "2", "3"]))
MALFORMED = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"NaN",
    b'{"a": Infinity}',
    b'{"a": 1e999}',
    b'"\\ud800"',
    b'{"\\udc00": 1}',
    b"\xff\xfe",
    b"[" * 5000,
    b"9" * 5000,
    b'{"a": 1, "a": 2}',
]


def encoded(value: Any) -> bytes:
    """JSON as a client sends it; lone surrogates become ``\\udXXX`` escapes."""
    return json.dumps(value).encode()


def bodies(
    fields: dict[str, st.SearchStrategy[Any]],
    optional: dict[str, st.SearchStrategy[Any]] | None = None,
) -> st.SearchStrategy[bytes]:
    """A JSON object with every one of ``fields`` (their plausible values, odd ones included);
    or one whose fields (``optional`` too) may be absent or any JSON; or any JSON value; or a
    malformed body. Whole plausible objects come often, so that things get created."""
    complete = st.fixed_dictionaries(fields)
    every = {**fields, **(optional or {})}
    loose = st.fixed_dictionaries(
        {}, optional={name: st.one_of(strategy, json_values) for name, strategy in every.items()}
    )
    extra = st.dictionaries(odd_text, json_values, max_size=2)
    whole = st.builds(lambda known, more: {**more, **known}, loose, extra)
    return st.one_of(
        complete.map(encoded),
        complete.map(encoded),
        whole.map(encoded),
        json_values.map(encoded),
        st.sampled_from(MALFORMED),
        st.binary(max_size=20),
    )


def segment(kind: str, plausible: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[str]:
    """An id in a path: one an earlier answer carried (of ``kind``), a plausible one, or odd."""
    options = [st.just(KNOWN + kind), digits]
    if plausible is not None:
        options.insert(0, plausible)
    return st.one_of(*options)


def form(fields: list[str]) -> st.SearchStrategy[bytes]:
    """A form body (``application/x-www-form-urlencoded``) of these field names or odd ones."""
    pairs = st.lists(st.tuples(st.sampled_from(fields) | odd_text, digits), max_size=4)
    return pairs.map(lambda p: "&".join(f"{_quote(k)}={_quote(v)}" for k, v in p).encode())


@dataclass(frozen=True)
class Request:
    method: str
    path: tuple[str, ...]  # segments, KNOWN where an earlier id fits
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def requests(
    method: str | st.SearchStrategy[str],
    path: tuple[str | st.SearchStrategy[str], ...],
    query: dict[str, st.SearchStrategy[str]] | None = None,
    body: st.SearchStrategy[bytes | None] | None = None,
    content_type: st.SearchStrategy[str] | None = None,
    headers: dict[str, st.SearchStrategy[str]] | None = None,
) -> st.SearchStrategy[Request]:
    params = st.fixed_dictionaries({}, optional=query or {}).map(lambda q: tuple(q.items()))
    extra = st.fixed_dictionaries({}, optional=headers or {}).map(lambda h: tuple(h.items()))
    return st.builds(
        Request,
        method=method if isinstance(method, st.SearchStrategy) else st.just(method),
        path=st.tuples(*(p if isinstance(p, st.SearchStrategy) else st.just(p) for p in path)),
        query=params,
        body=st.none() if body is None else body,
        content_type=st.just("application/json") if content_type is None else content_type,
        headers=extra,
    )


any_method = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@dataclass
class Session:
    """Sends requests to one emulator; remembers the ids its answers carried."""

    client: SandboxClient
    prefix: str
    headers: dict[str, str]
    error_keys: Callable[[str], set[str]]  # of an error body, by URL
    collect: Callable[[Any], list[tuple[str, str]]]  # (kind, id) pairs an answer carries
    known: dict[str, list[str]] = field(default_factory=dict)
    sent: int = 0
    faults: bool = False  # faults are injected: a 503 may be one of them (counted)
    seeded: bool = False  # the seed names accounts, jobs, pipelines (else: auto mode)
    unavailable: int = 0

    def _fill(self, segment: str) -> str:
        if not segment.startswith(KNOWN):
            return segment
        ids = self.known.get(segment.removeprefix(KNOWN), [])
        return ids[-1] if ids else "missing"

    def send(self, request: Request) -> Any:
        segments = [self._fill(s) for s in request.path]
        url = self.prefix + "".join("/" + _quote(s) for s in segments)
        if request.query:
            url += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in request.query)
        headers = {**self.headers, **dict(request.headers)}
        if request.body is not None:
            headers["Content-Type"] = request.content_type
        response = self.client.request(request.method, url, content=request.body, headers=headers)
        self.sent += 1
        if self.faults and response.status_code == 503:
            self.unavailable += 1
        else:
            assert response.status_code < 500, (request, response.status_code, response.text)
        if response.status_code >= 400 and request.method != "HEAD":
            try:
                keys = set(response.json())
            except ValueError:
                keys = set()
            assert keys >= self.error_keys(url), (request, response.status_code, response.text)
        media = response.headers.get("content-type", "").split(";")[0]
        json_media = media == "application/json" or media.endswith("+json")
        if response.status_code < 300 and json_media and request.method != "HEAD":
            try:
                answer = response.json()
            except ValueError:
                raise AssertionError((request, response.status_code, response.text)) from None
            for kind, found in self.collect(answer):
                ids = self.known.setdefault(kind, [])
                if found not in ids:
                    ids.append(found)
        return response

    def get(self, *path: str, **params: str) -> Any:
        """A GET that must answer 200 with JSON: the listings checked after each example."""
        url = self.prefix + "".join("/" + _quote(s) for s in path)
        response = self.client.get(url, params=params, headers=self.headers)
        self.sent += 1
        assert response.status_code == 200, (url, response.status_code, response.text)
        return response.json()
