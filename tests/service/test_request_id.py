"""A bug below the middleware answers a JSON 500 that quotes the request id, never a traceback."""

from __future__ import annotations

import asyncio
import json

from rnnlab.service.api.request_id import RequestId


async def failing_app(scope, receive, send):  # type: ignore[no-untyped-def]
    raise RuntimeError("secret detail of a bug")


def call(app, headers):  # type: ignore[no-untyped-def]
    sent: list[dict] = []

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def test_a_bug_answers_json_500_with_the_request_id() -> None:
    start, body = call(RequestId(failing_app), [(b"x-request-id", b"abc-123")])
    assert start["status"] == 500
    headers = dict(start["headers"])
    assert headers[b"x-request-id"] == b"abc-123"
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body["body"])
    detail = json.loads(body["body"])["detail"]
    assert "abc-123" in detail and "secret" not in detail


def test_an_unusable_request_id_is_replaced_by_a_fresh_one() -> None:
    start, _ = call(RequestId(failing_app), [(b"x-request-id", b"bad id\n")])
    rid = dict(start["headers"])[b"x-request-id"]
    assert len(rid) == 16 and int(rid, 16) >= 0
