"""Every request gets an id: echoed in `X-Request-ID`, written in the log lines about it, and
quoted in the 500 answer of a bug, whose traceback goes to the log and never to the client."""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnnlab.service.api.asgi import send_json_error

log = logging.getLogger("service.request")
request_id: ContextVar[str] = ContextVar("request_id", default="-")
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# What writing to a stream whose client has gone raises.
_CLIENT_GONE = (anyio.BrokenResourceError, anyio.ClosedResourceError)


def new_request_id() -> str:
    return os.urandom(8).hex()  # unique enough for a log, without uuid4's formatting


class RequestIdFilter(logging.Filter):
    """Adds `%(request_id)s` to log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        assigned_id = given if _ACCEPTABLE.match(given) else new_request_id()
        token = request_id.set(assigned_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                echoed = (b"x-request-id", assigned_id.encode())
                message["headers"] = [*message.get("headers", []), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            if started and _client_left(error):
                log.debug("%s %s: the client left mid-stream", scope["method"], scope["path"])
                return
            log.exception("%s %s failed", scope["method"], scope["path"])
            if not started:
                await self._internal_error(send_with_id, assigned_id)
        finally:
            request_id.reset(token)

    @staticmethod
    async def _internal_error(send: Send, assigned_id: str) -> None:
        detail = f"internal error (request id {assigned_id}): the server log has the details"
        await send_json_error(send, 500, detail)


def _client_left(error: Exception) -> bool:
    """Whether `error` only says that the client of a stream has gone. FastAPI's event streams
    forward each event through a keepalive task, which raises BrokenResourceError when the
    client disconnects while it is handing over an event (fastapi discussion #15725): a normal
    end of a stream, not a failure to log with a traceback."""
    if isinstance(error, ExceptionGroup):
        _, rest = error.split(_CLIENT_GONE)
        return rest is None
    return isinstance(error, _CLIENT_GONE)
