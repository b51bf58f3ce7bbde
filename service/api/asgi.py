"""Plain ASGI helpers for the middlewares, which answer below FastAPI's response classes."""

from __future__ import annotations

import json

from starlette.types import Send


async def send_json_error(
    send: Send, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """A whole `{"detail": ...}` response, as every error of the service looks."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
