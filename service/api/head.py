"""HEAD wherever GET is (RFC 9110, section 9.3.2): the GET route answers, its status and
headers go out, its body does not.

FastAPI's routes take only the methods they are declared with, so HEAD was 405 everywhere.
The request goes on as a GET with a copy of the scope: the server's own scope stays HEAD, so
uvicorn neither frames a body nor sends one. The answer ends as soon as its headers are out;
a stream (an event stream never ends by itself) then sees its client gone and stops.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

END = {"type": "http.response.body", "body": b"", "more_body": False}


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = False

        async def send_headers_only(message: Message) -> None:
            nonlocal answered
            if answered:
                return  # the body GET would have sent
            if message["type"] == "http.response.start":
                await send(message)
                await send(END)
                answered = True

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)
