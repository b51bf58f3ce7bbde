"""Request-body caps, enforced while the body streams in (Content-Length, chunked, multipart),
and how many corpus uploads are read at once.

A corpus upload may be large (RNNLAB_MAX_UPLOAD_BYTES); every other body is a small JSON object
(RNNLAB_MAX_BODY_BYTES). FastAPI parses and validates JSON on the event loop, so the small cap
is what bounds that work: a large body of unknown names holds every other request while it is
validated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnnlab.service.api.asgi import send_json_error
from rnnlab.service.errors import TooManyUploads

UPLOAD_PATHS = frozenset({"/corpora"})


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Answer 413 as soon as a body passes its cap, without buffering the rest."""

    def __init__(self, app: ASGIApp, max_upload_bytes: int, max_body_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = chunked = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = value
        if declared is None and chunked is None:
            # No body can follow (RFC 9112, section 6.3): skip the wrappers below, which cost
            # ~7% of the throughput of GET /predict.
            await self.app(scope, receive, send)
            return
        upload = scope["path"].rstrip("/") in UPLOAD_PATHS
        max_bytes = self.max_upload_bytes if upload else self.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await self._reject(send, upload)
            return
        received = 0
        started = rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    # Answered here: whoever reads the body may catch the error and answer
                    # for itself (FastAPI's body parsing made it a 400 "error parsing the body").
                    if not started and not rejected:
                        rejected = True
                        await self._reject(send, upload)
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has gone out: whatever the app answers after it is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limited_receive, tracking_send)

    async def _reject(self, send: Send, upload: bool) -> None:
        if upload:
            detail = (
                f"the request body is larger than {self.max_upload_bytes} bytes "
                "(RNNLAB_MAX_UPLOAD_BYTES): upload a smaller text"
            )
        else:
            detail = (
                f"the request body is larger than {self.max_body_bytes} bytes "
                "(RNNLAB_MAX_BODY_BYTES): only a corpus upload may be larger; a POST /train "
                "body is a JSON object of a few hundred bytes"
            )
        await send_json_error(send, 413, detail, ((b"connection", b"close"),))


class UploadSlots:
    """At most `limit` corpus uploads read at once (RNNLAB_MAX_CONCURRENT_UPLOADS): each holds
    about its body's size in memory while it is turned into word ids, so the cap bounds the
    service's memory; the next one is declined (429) before its body is read."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0  # taken and given back on the event loop only: no lock needed

    @contextmanager
    def take(self) -> Iterator[None]:
        if self.in_use >= self.limit:
            raise TooManyUploads(
                f"{self.in_use} corpus uploads are being read, as many as "
                f"RNNLAB_MAX_CONCURRENT_UPLOADS={self.limit} allows: retry when one is done",
                retry_after_seconds=self.RETRY_AFTER_SECONDS,
            )
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
