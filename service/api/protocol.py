"""The HTTP/1.1 protocol the server speaks: uvicorn's httptools protocol, whose answer to a
request its parser refuses (a URL over 65,535 bytes, a malformed request line or header) is JSON
with an `X-Request-ID`, like every other error of the service, instead of plain text.

It also bounds how long a request's headers may take (RNNLAB_HEADER_TIMEOUT_SECONDS). uvicorn
has no such limit: its keep-alive timer runs only between requests, and the first byte of a
request stops it, so a client that opens connections and sends headers a byte at a time holds
each one for as long as it likes (slowloris). The clock starts when the connection opens, and
again at the first byte of each request on a kept-alive one; it stops when the headers end.
A client still inside its headers then is answered 408 and cut off.

What stays outside: an error after an answer has started can only close the connection, and
uvicorn's own plain-text 503 of `--limit-concurrency` (not used here) is not replaced.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from rnnlab.service.api.request_id import new_request_id

log = logging.getLogger("service.request")

MALFORMED = (
    "the request could not be parsed as HTTP/1.1 (request id {request_id}): the URL may be at "
    "most 65,535 bytes (send long input in a request body), and the request line and headers "
    "must be well formed"
)


HEADERS_TOO_SLOW = (
    "the request's headers did not arrive within {seconds:g} s (request id {request_id}): "
    "send the whole request line and headers at once (RNNLAB_HEADER_TIMEOUT_SECONDS)"
)


class JsonErrorsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's protocol, but a request its parser refuses is answered 400 in JSON, and one
    whose headers take over `header_timeout_seconds` 408."""

    header_timeout_seconds = 10.0

    @classmethod
    def with_header_timeout(cls, seconds: float) -> type[JsonErrorsHttpToolsProtocol]:
        return type(cls.__name__, (cls,), {"header_timeout_seconds": seconds})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_clock()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._start_header_clock()

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def _start_header_clock(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_seconds, self._headers_late)

    def _stop_header_clock(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        assigned_id = new_request_id()
        seconds = self.header_timeout_seconds
        log.warning("[%s] request headers not complete after %g s", assigned_id, seconds)
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request behind an answer still being sent: a 408 would land inside it.
            self.transport.close()
            return
        detail = HEADERS_TOO_SLOW.format(seconds=seconds, request_id=assigned_id)
        self._send_json_and_close(b"408 Request Timeout", detail, assigned_id)

    def send_400_response(self, msg: str) -> None:
        self._stop_header_clock()
        assigned_id = new_request_id()
        log.warning("[%s] %s", assigned_id, msg)
        detail = MALFORMED.format(request_id=assigned_id)
        self._send_json_and_close(b"400 Bad Request", detail, assigned_id)

    def _send_json_and_close(self, status: bytes, detail: str, assigned_id: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        head = [b"HTTP/1.1 " + status + b"\r\n"]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"x-request-id: " + assigned_id.encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
