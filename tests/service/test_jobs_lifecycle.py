"""A long job runs in a worker process: the web process keeps answering, and cancel works."""

from __future__ import annotations

import time

from tests.conftest import LiveService

LONG_JOB = {"epochs": 10_000, "hidden_size": 64, "embedding_size": 32}


def _wait_running(service: LiveService, job_id: int) -> dict:
    return service.wait_for_job(job_id, until=("running", "succeeded", "failed", "cancelled"))


def test_service_answers_fast_while_a_job_trains_then_cancel_stops_it(service: LiveService) -> None:
    adder = service.wait_for_job(service.train("binary_addition")["id"])
    long_job = service.train("next_word", **LONG_JOB)
    assert _wait_running(service, long_job["id"])["status"] == "running"
    time.sleep(0.5)  # let training get going

    slowest = 0.0
    for _ in range(20):
        for path, params in (("/healthz", {}), ("/predict", {"a": 12, "b": 30})):
            started = time.perf_counter()
            response = service.client.get(path, params=params)
            slowest = max(slowest, time.perf_counter() - started)
            assert response.status_code == 200
    # Generous bound: a request that queued behind training would take seconds.
    assert slowest < 0.5, f"slowest answer {slowest:.3f} s while training"
    assert (
        service.client.get("/predict", params={"a": 12, "b": 30}).json()["model_id"]
        == adder["model_id"]
    )

    running = service.client.get(f"/jobs/{long_job['id']}").json()
    assert running["status"] == "running"
    assert 0 <= running["progress"] < 1

    cancelled = service.client.post(f"/jobs/{long_job['id']}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["cancel_requested"] is True
    started = time.monotonic()
    finished = service.wait_for_job(long_job["id"], timeout=10)
    assert finished["status"] == "cancelled"
    assert time.monotonic() - started < 3, "a running job stops at its next check"
    assert finished["model_id"] is None
    assert finished["finished_at"] is not None


def test_cancel_a_queued_job_means_it_never_starts(service_factory) -> None:
    live = service_factory()  # one worker: the second job waits behind the first
    first = live.train("next_word", **LONG_JOB)
    _wait_running(live, first["id"])
    second = live.train("binary_addition")
    response = live.client.post(f"/jobs/{second['id']}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    live.client.post(f"/jobs/{first['id']}/cancel")
    live.wait_for_job(first["id"], timeout=10)
    time.sleep(0.5)
    never = live.client.get(f"/jobs/{second['id']}").json()
    assert never["status"] == "cancelled"
    assert never["started_at"] is None
    assert never["attempt"] == 0


def test_cancel_a_finished_job_is_a_conflict(service: LiveService) -> None:
    job = service.wait_for_job(service.train("binary_addition")["id"])
    response = service.client.post(f"/jobs/{job['id']}/cancel")
    assert response.status_code == 409
    assert "already finished" in response.json()["detail"]
    assert service.client.get(f"/jobs/{job['id']}").json()["status"] == "succeeded"
