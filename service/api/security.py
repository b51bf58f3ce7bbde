"""The optional API key: when RNNLAB_API_KEY is set, mutating endpoints (and, with
RNNLAB_PROTECT_READS, reads too) need `Authorization: Bearer <key>` or `X-API-Key: <key>`."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from rnnlab.service.errors import NotAuthenticated

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

# auto_error=False: a missing key is our own 401 with a message, not FastAPI's 403.
bearer = HTTPBearer(auto_error=False, description="The value of RNNLAB_API_KEY")
api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The value of RNNLAB_API_KEY"
)


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    header_key: Annotated[str | None, Depends(api_key_header)],
) -> None:
    # async: a plain check, no I/O, so no threadpool hop for every request.
    settings = request.app.state.settings
    if settings.api_key is None:
        return
    if request.method in SAFE_METHODS and not settings.protect_reads:
        return
    given = header_key or (credentials.credentials if credentials is not None else None)
    if given is None or not secrets.compare_digest(given.encode(), settings.api_key.encode()):
        raise NotAuthenticated(
            "this endpoint needs the API key: send 'Authorization: Bearer <key>' or "
            "'X-API-Key: <key>' (the value of RNNLAB_API_KEY)"
        )
