"""What the Xplenty API reads from a request: a job's body (JSON or a Rails form), ids, maps
of variables, the ``since`` filter, the page; and the ``Link`` header of its pages."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from reconciler.sandbox.common import (
    INT64_MAX,
    ApiProblem,
    form_fields,
    is_form,
    is_int,
    json_object,
)
from reconciler.sandbox.paging import Page, page_count, strict_page


async def job_body(request: Request) -> dict[str, Any]:
    if is_form(request):
        body: dict[str, Any] = {"variables": {}, "dynamic_variables": {}}
        for name, value in await form_fields(request):
            if name.startswith("job[variables][") or name.startswith("job[dynamic_variables]["):
                group, _, var = name[4:].partition("][")
                body[group][var.rstrip("]")] = value
            elif name.startswith("job[") and name.endswith("]"):
                body[name[4:-1]] = value
        return body
    data = await json_object(request)
    return data.get("job", data) if isinstance(data.get("job"), dict) else data


def positive_int(value: Any, name: str) -> int:
    """A JSON integer, or the digits of one (form fields and query parameters are text)."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,30}", value.strip()):
        value = int(value)
    if not is_int(value):
        raise ApiProblem(422, f"{name} is missing or not an integer")
    if value <= 0:
        raise ApiProblem(422, f"{name} must be a positive integer")
    return int(value)


def known_id(item_id: int) -> int:
    """Ids are 64-bit: a larger one names nothing (and would overflow the database)."""
    if item_id > INT64_MAX:
        raise ApiProblem(404, "Item not found.")
    return item_id


def string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ApiProblem(422, f"{name} must be an object of strings")
    return {str(k): v for k, v in value.items()}


def since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ApiProblem(400, f"Invalid since: {value} (expected ISO8601 UTC)") from None


def page(request: Request) -> Page:
    """``offset`` (default 0) and ``limit`` (default 20, at most 100); empty is the default."""
    query = request.query_params
    return strict_page(
        query.get("offset") or None,
        query.get("limit") or None,
        names=("offset", "limit"),
        first=0,
        default_size=20,
        max_size=100,
        by_offset=True,
    )


def link_header(request: Request, page: Page, total: int) -> dict[str, str]:
    """RFC 8288 links to the next, previous and last pages, keeping the other parameters."""
    offset, limit = page.start, page.size
    params = dict(request.query_params)

    def url(new_offset: int) -> str:
        query = urlencode({**params, "offset": new_offset, "limit": limit})
        return f"{request.url.replace(query=query)}"

    links = []
    if offset + limit < total:
        links.append(f'<{url(offset + limit)}>; rel="next"')
    if offset > 0:
        links.append(f'<{url(max(0, offset - limit))}>; rel="prev"')
    last = max(0, page_count(total, limit) - 1) * limit
    if total > limit:
        links.append(f'<{url(last)}>; rel="last"')
    return {"Link": ", ".join(links)} if links else {}
