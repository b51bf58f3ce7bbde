"""The API key matches exactly or not at all, in `Authorization: Bearer` and in `X-API-Key`:
near misses (a prefix, one character more, another case, a space) are refused like a wrong key,
on a mutating endpoint and on a protected read alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveService, start_service

KEY = "s3cret-Key-42"
NEAR_MISSES = {
    "empty": "",
    "first character": KEY[:1],
    "prefix": KEY[:-1],
    "one character more": KEY + "2",
    "one character before": "x" + KEY,
    "doubled": KEY + KEY,
    "upper case": KEY.upper(),
    "lower case": KEY.lower(),
    "swapped case": KEY.swapcase(),
    "space inside": KEY[:6] + " " + KEY[6:],
    "last character a space": KEY[:-1] + " " + "!",
    "last character changed": KEY[:-1] + "3",
    "first character changed": "S" + KEY[1:],
}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    live = start_service(Path(tmp_path_factory.mktemp("keys")), api_key=KEY, protect_reads="true")
    yield live
    live.stop()


def as_headers(header: str, value: str) -> dict[str, str]:
    if header == "bearer":  # HTTP drops a header value's trailing spaces: "Bearer " is "Bearer"
        return {"Authorization": f"Bearer {value}".rstrip()}
    return {"X-API-Key": value}


# A cancel of an unknown job needs the key first, then answers 404: nothing is created.
REQUESTS = [("POST", "/jobs/2147483647/cancel", 404), ("GET", "/jobs", 200)]


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
@pytest.mark.parametrize(("method", "path", "allowed"), REQUESTS)
def test_the_exact_key_passes(guarded: LiveService, header, method, path, allowed) -> None:
    response = guarded.client.request(method, path, headers=as_headers(header, KEY))
    assert response.status_code == allowed, response.text


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
@pytest.mark.parametrize("miss", sorted(NEAR_MISSES))
@pytest.mark.parametrize(("method", "path", "allowed"), REQUESTS)
def test_a_near_miss_is_refused(guarded: LiveService, header, miss, method, path, allowed) -> None:
    response = guarded.client.request(method, path, headers=as_headers(header, NEAR_MISSES[miss]))
    assert response.status_code == 401, f"{miss!r} in {header}: {response.status_code}"
    assert response.headers["www-authenticate"] == "Bearer"
    assert KEY not in response.text  # the message never echoes the key


@pytest.mark.parametrize(
    "authorization",
    [KEY, f"Bearer{KEY}", f"Basic {KEY}", f"Token {KEY}", f"{KEY} Bearer", f"Bearer {KEY} {KEY}"],
)
def test_the_key_without_the_bearer_scheme_is_refused(guarded: LiveService, authorization) -> None:
    """(Several spaces after "Bearer" are allowed: RFC 6750 says `"Bearer" 1*SP b64token`.)"""
    response = guarded.client.get("/jobs", headers={"Authorization": authorization})
    assert response.status_code == 401, authorization


def test_the_header_name_is_x_api_key_and_no_other(guarded: LiveService) -> None:
    for name in ("X-Api-Keys", "API-Key", "X-Key", "Api-Key"):
        assert guarded.client.get("/jobs", headers={name: KEY}).status_code == 401, name
    # header names are case-insensitive in HTTP: this one is X-API-Key
    assert guarded.client.get("/jobs", headers={"x-api-key": KEY}).status_code == 200
