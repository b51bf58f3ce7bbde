"""Input built to break the service: non-finite numbers, NUL bytes, loose types, huge bodies and
URLs. Each gets a 4xx whose JSON says what is allowed, never a 500, and never an echo of itself."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from tests.conftest import LiveService

NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400")
FLOATS = {
    "binary_addition": (
        "init_std",
        "learning_rate",
        "clip_norm",
        "stop_at_accuracy",
        "dropout",
        "recurrent_dropout",
    ),
    "next_word": ("dropout", "recurrent_dropout", "learning_rate", "clip_norm", "test_fraction"),
}


def _post_raw(live: LiveService, body: str) -> httpx.Response:
    return live.client.post("/train", content=body, headers={"content-type": "application/json"})


def test_non_finite_numbers_get_a_422_that_says_they_must_be_finite(backend) -> None:
    live: LiveService = backend()
    for task, names in FLOATS.items():
        for name in names:
            for number in NON_FINITE:
                body = f'{{"task": "{task}", "hyperparams": {{"{name}": {number}}}}}'
                response = _post_raw(live, body)
                assert response.status_code == 422, (body, response.text)
                (error,) = response.json()["detail"]
                assert error["loc"] == ["body", task, "hyperparams", name], error
                assert "finite" in error["msg"], error
                assert "input" not in error, error  # inf cannot be written as JSON
    assert live.client.get("/jobs").json()["count"] == 0
    for number in ("nan", "inf", "-inf", "1e400"):
        response = live.client.get("/generate", params={"text": "the", "temperature": number})
        assert response.status_code == 422, (number, response.text)
        (error,) = response.json()["detail"]
        assert error["loc"] == ["query", "temperature"] and "finite" in error["msg"], error


def test_nul_bytes_in_text_parameters_get_a_422(backend) -> None:
    live: LiveService = backend()
    text = "the cat sat on the mat " * 200
    requests = [
        ("POST", "/corpora", {"name": "a\x00b"}),
        ("GET", "/jobs/1/metrics", {"name": "lo\x00ss"}),
        ("GET", "/predict", {"text": "the\x00cat"}),
        ("GET", "/generate", {"text": "the\x00cat"}),
    ]
    for method, path, params in requests:
        response = live.client.request(method, path, params=params, content=text)
        assert response.status_code == 422, (path, response.text)
        (error,) = response.json()["detail"]
        assert error["loc"] == ["query", next(iter(params))], error
        assert "NUL" in error["msg"], error
    assert live.client.get("/corpora").json()["count"] == 1  # the demo corpus only


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("hidden_size", True),
        ("hidden_size", "16"),
        ("iterations", 10.0),
        ("bias", 1),
        ("learning_rate", "0.1"),
        ("binary_dim", None),
    ],
)
def test_types_are_strict(service: LiveService, name: str, value: object) -> None:
    body = {"task": "binary_addition", "hyperparams": {name: value}}
    response = service.client.post("/train", json=body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "binary_addition", "hyperparams", name], error


def test_a_validation_error_reports_the_first_problems_and_counts_the_rest(
    service: LiveService,
) -> None:
    unknown = {f"typo{i}": i for i in range(500)}
    response = service.client.post(
        "/train", json={"task": "binary_addition", "hyperparams": unknown}
    )
    assert response.status_code == 422
    body = response.json()
    assert len(body["detail"]) <= 10, len(body["detail"])
    assert body["detail"][0]["loc"][-1] == "typo0"
    assert body["more_errors"] == 500 - len(body["detail"])
    assert len(response.content) < 4096


def test_a_validation_error_never_echoes_a_long_input(service: LiveService) -> None:
    long_text = "word " * 4000
    response = service.client.get("/predict", params={"text": long_text})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "text"]
    assert "input" not in error and len(response.content) < 1024


def test_a_huge_json_body_never_blocks_the_event_loop(service: LiveService) -> None:
    keys = ",".join(f'"k{i}":1' for i in range(600_000))
    body = f'{{"task":"binary_addition","hyperparams":{{{keys}}}}}'.encode()
    assert len(body) > 7_000_000
    outcome: dict[str, httpx.Response | httpx.TransportError] = {}

    def post() -> None:
        try:
            outcome["response"] = httpx.post(
                f"{service.base_url}/train",
                content=body,
                headers={"content-type": "application/json"},
                timeout=60,
            )
        except httpx.TransportError as error:
            # The server answers before reading the rest and closes: a client still writing
            # may see the reset before the answer (TCP discards it), which is no server fault.
            outcome["response"] = error

    poster = threading.Thread(target=post)
    poster.start()
    slowest = 0.0
    while poster.is_alive():
        started = time.perf_counter()
        assert service.client.get("/healthz").status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.01)
    poster.join()
    assert slowest < 0.1, f"/healthz waited {slowest * 1000:.0f} ms"
    response = outcome["response"]
    if isinstance(response, httpx.Response):
        assert response.status_code in (413, 422), response.text[:300]
        assert len(response.content) < 4096


def _raw_get(live: LiveService, target: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send a request line httpx refuses to build; the status line, headers and body."""
    host, port = live.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, content = received.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return status, headers, content


@pytest.mark.parametrize("length", [20_000, 70_000, 1_000_000])
def test_an_overlong_url_gets_json_with_a_request_id(service: LiveService, length: int) -> None:
    status, headers, content = _raw_get(service, b"/predict?text=" + b"a" * length)
    assert status.split()[1] in ("400", "414", "422"), status
    assert headers["content-type"] == "application/json", headers
    assert "x-request-id" in headers, headers
    detail = json.loads(content)["detail"]
    assert len(content) < 1024, detail
