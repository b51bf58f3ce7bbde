"""The API key guard (service/api/security.py `require_api_key`), in process: a route guarded by it
in an app of the test's own, called through FastAPI's in-memory client (no server), so that the
key is read from the headers as in the service. Without a key set everything passes; with one,
writes need it, reads need it only with `protect_reads`, and only the exact key passes."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from rnnlab.service.api.security import require_api_key
from rnnlab.service.errors import NotAuthenticated
from rnnlab.service.settings import Settings

KEY = "s3cret-Key-42"
READS = ("GET", "HEAD", "OPTIONS")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
MESSAGE = (
    "this endpoint needs the API key: send 'Authorization: Bearer <key>' or "
    "'X-API-Key: <key>' (the value of RNNLAB_API_KEY)"
)
WRONG = {
    "none": {},
    "wrong bearer": {"Authorization": "Bearer nope"},
    "wrong X-API-Key": {"X-API-Key": "nope"},
    "prefix": {"X-API-Key": KEY[:-1]},
    "one character more": {"Authorization": f"Bearer {KEY}x"},
    "other case": {"X-API-Key": KEY.upper()},
    "not a bearer": {"Authorization": f"Basic {KEY}"},
    "bare key in Authorization": {"Authorization": KEY},
}
RIGHT = {
    "bearer": {"Authorization": f"Bearer {KEY}"},
    "X-API-Key": {"X-API-Key": KEY},
    "X-API-Key with a wrong bearer": {"X-API-Key": KEY, "Authorization": "Bearer nope"},
}


def client(api_key: str | None, protect_reads: bool = False) -> TestClient:
    app = FastAPI(dependencies=[Depends(require_api_key)])
    app.state.settings = Settings(api_key=api_key, protect_reads=protect_reads)
    app.add_api_route("/guarded", lambda: {"ok": True}, methods=[*READS, *WRITES])
    return TestClient(app)


def passes(test_client: TestClient, method: str, headers: dict[str, str]) -> bool:
    """Whether the guard let the request through (it raises NotAuthenticated otherwise)."""
    try:
        response = test_client.request(method, "/guarded", headers=headers)
    except NotAuthenticated as refused:
        assert str(refused) == MESSAGE
        return False
    assert response.status_code == 200, response.text
    return True


@pytest.mark.parametrize("method", READS + WRITES)
@pytest.mark.parametrize("headers", WRONG.values(), ids=WRONG.keys())
def test_without_a_key_set_everything_passes(method: str, headers: dict[str, str]) -> None:
    assert passes(client(None), method, headers)
    assert passes(client(None, protect_reads=True), method, headers)


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("headers", WRONG.values(), ids=WRONG.keys())
def test_a_write_without_the_key_is_refused(method: str, headers: dict[str, str]) -> None:
    assert not passes(client(KEY), method, headers)
    assert not passes(client(KEY, protect_reads=True), method, headers)


@pytest.mark.parametrize("method", READS + WRITES)
@pytest.mark.parametrize("headers", RIGHT.values(), ids=RIGHT.keys())
def test_the_right_key_passes(method: str, headers: dict[str, str]) -> None:
    assert passes(client(KEY), method, headers)
    assert passes(client(KEY, protect_reads=True), method, headers)


@pytest.mark.parametrize("method", READS)
@pytest.mark.parametrize("headers", WRONG.values(), ids=WRONG.keys())
def test_reads_need_the_key_only_when_protected(method: str, headers: dict[str, str]) -> None:
    assert passes(client(KEY), method, headers)
    assert not passes(client(KEY, protect_reads=True), method, headers)


def test_a_wrong_x_api_key_is_refused_beside_the_right_bearer() -> None:
    """X-API-Key, when sent, is the key checked: it is not overruled by another header."""
    headers = {"X-API-Key": "nope", "Authorization": f"Bearer {KEY}"}
    assert not passes(client(KEY), "POST", headers)
