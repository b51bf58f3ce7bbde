"""Limits: queue length (429), memory budget (422), wall time (failed: time limit)."""

from __future__ import annotations

from tests.conftest import LiveService

LONG = {"epochs": 10_000}


def test_a_full_queue_answers_429_with_retry_after(service_factory) -> None:
    live = service_factory(max_queued_jobs="2")
    running = live.train("next_word", **LONG)
    live.wait_for_job(running["id"], until=("running",))
    queued = [live.train("binary_addition") for _ in range(2)]
    response = live.client.post("/train", json={"task": "binary_addition", "hyperparams": {}})
    assert response.status_code == 429
    assert response.headers["retry-after"].isdigit()
    assert "RNNLAB_MAX_QUEUED_JOBS=2" in response.json()["detail"]
    live.client.post(f"/jobs/{running['id']}/cancel")
    for job in queued:  # nothing queued before was lost
        assert live.wait_for_job(job["id"])["status"] == "succeeded"


def test_a_job_over_the_memory_budget_is_refused_before_queueing(service: LiveService) -> None:
    before = service.client.get("/jobs").json()["count"]
    response = service.client.post(
        "/train",
        json={"task": "binary_addition", "hyperparams": {"hidden_size": 1024, "binary_dim": 32}},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "MiB" in detail and "RNNLAB_JOB_MEMORY_BUDGET" in detail and "4,096 MiB" in detail
    big_vocabulary = service.client.post(
        "/train",
        json={
            "task": "next_word",
            "hyperparams": {"hidden_size": 4096, "embedding_size": 4096, "num_layers": 3},
        },
    )
    assert big_vocabulary.status_code == 422
    assert service.client.get("/jobs").json()["count"] == before


def test_the_wall_time_limit_fails_the_job(service_factory) -> None:
    live = service_factory(job_time_limit_seconds="1")
    job = live.train("next_word", **LONG)
    finished = live.wait_for_job(job["id"], timeout=30)
    assert finished["status"] == "failed"
    assert finished["error"].startswith("time limit")
    assert finished["model_id"] is None
