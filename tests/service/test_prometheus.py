"""GET /metrics, read with prometheus_client's own parser, with several worker processes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveService, start_service

LONG_JOB = {"epochs": 10_000, "log_every": 1}


def scrape(service: LiveService) -> dict[str, dict[tuple, float]]:
    """name -> {sorted label items -> value}, every sample of the exposition."""
    response = service.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


@pytest.fixture(scope="module")
def busy(tmp_path_factory) -> Iterator[LiveService]:
    """A service with two worker processes, both training, one job queued behind them, and
    a few answered predictions; its jobs are cancelled afterwards."""
    live = start_service(tmp_path_factory.mktemp("metrics"), max_concurrent_jobs="2")
    live.wait_for_job(live.train("binary_addition")["id"])
    live.wait_for_job(live.train("next_word", epochs=2)["id"])
    for _ in range(3):
        assert live.client.get("/predict", params={"a": 3, "b": 4}).status_code == 200
        assert live.client.get("/predict", params={"text": "the cat", "k": 2}).status_code == 200
    assert live.client.get("/jobs/1").status_code == 200
    assert live.client.get("/no/such/path").status_code == 404
    long_jobs = [live.train("next_word", **LONG_JOB)["id"] for _ in range(3)]
    for job_id in long_jobs[:2]:
        live.wait_for_job(job_id, until=("running",))
    time.sleep(2.0)  # some steps logged by both
    yield live
    for job_id in long_jobs:
        live.client.post(f"/jobs/{job_id}/cancel")
    live.stop()


def test_requests_by_route_template_and_status_with_latencies(busy: LiveService) -> None:
    samples = scrape(busy)
    predict = {"method": "GET", "route": "/predict", "status": "200"}
    assert value(samples, "rnnlab_http_requests_total", **predict) == 6
    assert value(samples, "rnnlab_http_request_duration_seconds_count", **predict) == 6
    assert value(samples, "rnnlab_http_request_duration_seconds_bucket", **predict, le="+Inf") == 6
    assert value(samples, "rnnlab_http_request_duration_seconds_sum", **predict) > 0
    job = {"method": "GET", "route": "/jobs/{job_id}", "status": "200"}
    assert value(samples, "rnnlab_http_requests_total", **job) >= 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(samples, "rnnlab_http_requests_total", **unmatched) == 1
    routes = {dict(key)["route"] for key in samples["rnnlab_http_requests_total"]}
    assert not any(char.isdigit() for route in routes for char in route), routes


def test_jobs_queue_and_the_speed_of_jobs_in_two_worker_processes(busy: LiveService) -> None:
    samples = scrape(busy)
    assert value(samples, "rnnlab_jobs", status="succeeded") == 2
    assert value(samples, "rnnlab_jobs", status="running") == 2
    assert value(samples, "rnnlab_jobs", status="failed") == 0
    assert value(samples, "rnnlab_queue_depth") == 1
    running = busy.client.get("/jobs", params={"status": "running"}).json()["jobs"]
    assert len({job["worker"] for job in running}) == 2  # two processes
    for job in running:
        steps = value(
            samples, "rnnlab_job_steps_per_second", job_id=str(job["id"]), task="next_word"
        )
        tokens = value(samples, "rnnlab_job_tokens_per_second", job_id=str(job["id"]))
        assert steps > 0
        hyperparams = job["hyperparams"]
        assert tokens == pytest.approx(steps * hyperparams["batch_size"] * hyperparams["seq_len"])


def test_cache_hits_and_misses_and_worker_restarts(busy: LiveService) -> None:
    samples = scrape(busy)
    # Two models loaded once each, then found loaded four times.
    assert value(samples, "rnnlab_model_cache_lookups_total", result="miss") == 2
    assert value(samples, "rnnlab_model_cache_lookups_total", result="hit") == 4
    # The same question to each model three times: computed once, then twice from the cache.
    assert value(samples, "rnnlab_answer_cache_lookups_total", result="miss") == 2
    assert value(samples, "rnnlab_answer_cache_lookups_total", result="hit") == 4
    assert value(samples, "rnnlab_worker_restarts_total") == 0  # test_readiness kills one
