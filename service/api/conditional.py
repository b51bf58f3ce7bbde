"""Conditional GET (RFC 9110, section 13.1.2): a representation carries a strong ETag, its
sha256, and a client that sends it back in `If-None-Match` gets 304 with no body, so that a
dashboard refreshing a plot or a script fetching weights again moves no bytes it already has."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from fastapi import Request, Response

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: `If-None-Match` holds the current `ETag`"}
}


def entity_tag(content: bytes) -> str:
    return f'"{hashlib.sha256(content).hexdigest()}"'


def conditional(
    request: Request, content: bytes, media_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    """`content` with its ETag; 304 when the request's If-None-Match already holds it."""
    etag = entity_tag(content)
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(content, media_type=media_type, headers={**(headers or {}), "ETag": etag})


def _matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match compares weakly: `W/"x"` matches `"x"`; `*` matches any."""
    if if_none_match is None:
        return False
    candidates = [candidate.strip() for candidate in if_none_match.split(",")]
    return "*" in candidates or any(
        candidate.removeprefix("W/") == etag for candidate in candidates
    )
