"""The HTTP/1.1 protocol the server speaks: uvicorn's httptools protocol, whose answer to a
request its parser refuses (a URL over 65,535 bytes, a malformed request line or header) is JSON
with an `X-Request-ID`, like every other error of the service, instead of plain text.

What stays outside: an error after an answer has started can only close the connection, and
uvicorn's own plain-text 503 of `--limit-concurrency` (not used here) is not replaced.
"""

from __future__ import annotations

import json
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from rnnlab.service.api.request_id import new_request_id

log = logging.getLogger("service.request")

MALFORMED = (
    "the request could not be parsed as HTTP/1.1 (request id {request_id}): the URL may be at "
    "most 65,535 bytes (send long input in a request body), and the request line and headers "
    "must be well formed"
)


class JsonErrorsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's protocol, but a request its parser refuses is answered 400 in JSON."""

    def send_400_response(self, msg: str) -> None:
        assigned_id = new_request_id()
        log.warning("[%s] %s", assigned_id, msg)
        body = json.dumps({"detail": MALFORMED.format(request_id=assigned_id)}).encode()
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
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
