"""HTTP as clients and proxies expect it: HEAD wherever GET is, 304 for a representation the
client already holds, slow headers cut off, a missing extra named at start."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO, LiveService, start_service

HEADER_TIMEOUT = 1.0  # seconds, the setting of the service below


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    service = start_service(
        tmp_path_factory.mktemp("manners"), header_timeout_seconds=str(HEADER_TIMEOUT)
    )
    yield service
    service.stop()


@pytest.fixture(scope="module")
def job(live: LiveService) -> dict:
    job = live.wait_for_job(
        live.train("binary_addition", iterations=60, gradient_norms_every=20)["id"]
    )
    assert job["status"] == "succeeded", job
    return job


def gets(job: dict) -> list[str]:
    model, job_id = job["model_id"], job["id"]
    return [
        "/healthz",
        "/readyz",
        "/",
        f"/jobs/{job_id}/view",
        "/static/common.js",
        "/openapi.json",
        "/docs",
        "/jobs",
        f"/jobs/{job_id}",
        f"/jobs/{job_id}/metrics",
        f"/models/{model}",
        f"/models/{model}/weights.npz",
        f"/models/{model}/model.onnx",
        f"/jobs/{job_id}/plot.svg",
        f"/jobs/{job_id}/gradients.png",
        f"/predict?a=1&b=2&model={model}",
        f"/jobs/{job_id}/nothing-here",  # a 404 is the same for HEAD
    ]


# Headers that describe the representation; the rest (date, request id) differ per answer.
SAME_HEADERS = ("content-type", "content-length", "etag", "content-disposition")


def test_head_answers_wherever_get_does_with_its_headers_and_no_body(live, job) -> None:
    for path in gets(job):
        got = live.client.get(path)
        head = live.client.head(path)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        for name in SAME_HEADERS:
            assert head.headers.get(name) == got.headers.get(name), (path, name)


@pytest.mark.parametrize("stream", ["/events", "/jobs/{}/events"])
def test_head_on_an_event_stream_ends_at_its_headers(live, job, stream) -> None:
    started = time.monotonic()
    head = live.client.head(stream.format(job["id"]), timeout=5)
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")
    assert time.monotonic() - started < 2
    assert live.client.get("/events/stats").json()  # the service still answers


def test_head_where_there_is_no_get_is_405(live) -> None:
    assert live.client.head("/train").status_code == 405


@pytest.fixture(scope="module")
def sweep_id(live: LiveService) -> int:
    body = {"task": "binary_addition", "seeds": [0], "hyperparams": {"iterations": 20}}
    sweep = live.client.post("/sweeps", json=body)
    assert sweep.status_code == 202, sweep.text
    for job in live.client.get("/jobs", params={"sweep_id": sweep.json()["id"]}).json()["jobs"]:
        live.wait_for_job(job["id"])
    return sweep.json()["id"]


def conditional_paths(job: dict, sweep_id: int) -> list[str]:
    model, job_id = job["model_id"], job["id"]
    return [
        f"/sweeps/{sweep_id}/plot.svg",
        f"/models/{model}/weights.npz",
        f"/models/{model}/model.onnx",
        f"/jobs/{job_id}/plot.svg",
        f"/jobs/{job_id}/plot.png",
        f"/jobs/{job_id}/gradients.svg",
        f"/jobs/{job_id}/gradients.png",
        f"/plots/compare.svg?jobs={job_id}",
    ]


def test_a_representation_the_client_holds_is_304(live, job, sweep_id) -> None:
    for path in conditional_paths(job, sweep_id):
        first = live.client.get(path)
        assert first.status_code == 200, (path, first.text)
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"'), path
        again = live.client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b"" and again.headers["etag"] == etag, path


def test_if_none_match_compares_weakly_and_takes_lists_and_any(live, job) -> None:
    path = f"/models/{job['model_id']}/weights.npz"
    first = live.client.get(path)
    etag = first.headers["etag"]
    for held in (f"W/{etag}", f'"other", {etag}', "*"):
        assert live.client.get(path, headers={"If-None-Match": held}).status_code == 304, held
    changed = live.client.get(path, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.content == first.content


def test_headers_trickled_in_are_cut_off_after_the_setting(live) -> None:
    address = urlsplit(live.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        started = time.monotonic()
        answer = b""
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            connection.sendall(bytes([byte]))
            readable, _, _ = select.select([connection], [], [], 0.2)  # a byte each 0.2 s
            if readable:
                answer = connection.recv(4096)
                break
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"RNNLAB_HEADER_TIMEOUT_SECONDS" in answer
    assert HEADER_TIMEOUT <= elapsed < HEADER_TIMEOUT + 2, elapsed


def test_a_silent_connection_is_closed_after_the_setting(live) -> None:
    address = urlsplit(live.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        started = time.monotonic()
        answer = connection.recv(4096)
        elapsed = time.monotonic() - started
        assert connection.recv(4096) == b""  # then closed
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert HEADER_TIMEOUT <= elapsed < HEADER_TIMEOUT + 2, elapsed


def test_a_prompt_client_on_a_kept_alive_connection_is_not_cut_off(live) -> None:
    for _ in range(3):  # one connection, longer in all than the timeout
        assert live.client.get("/healthz").status_code == 200
        time.sleep(HEADER_TIMEOUT / 2)


def test_celery_without_the_scale_extra_is_one_line_naming_it(tmp_path: Path) -> None:
    shim = tmp_path / "without-celery"
    (shim / "celery").mkdir(parents=True)
    (shim / "celery" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'celery'\", name='celery')\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("RNNLAB_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(shim), env.get("PYTHONPATH", "")]),
        RNNLAB_EXECUTOR="celery",
        RNNLAB_BROKER_URL="redis://127.0.0.1:6379/0",
        RNNLAB_DATA_DIR=str(tmp_path / "data"),
    )
    for command in ("serve", "worker"):
        result = subprocess.run(
            [sys.executable, "-m", "rnnlab.service.cli", command],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0, result
        assert "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "pip install 'rnnlab[scale]'" in result.stderr, result.stderr
