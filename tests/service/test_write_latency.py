"""A mutating request does not wait behind the workers' writes: while two jobs train and
checkpoint every second, cancels, submits and uploads answer within a second at p99."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from tests.service.test_recovery import wait_for_checkpoint

# Wide enough that a checkpoint is tens of MB (weights and Adam's two moments), as a
# real model's is: the size of a worker's write is what a request could wait behind.
BUSY_JOB = {"epochs": 10_000, "hidden_size": 512, "embedding_size": 256}
ROUNDS = 25  # 4 requests each: 100 timings, so p99 is the second slowest
# p99 bound. A request costs a few ms on loopback; a loaded 2-core machine (two jobs training
# beside the test, other test runs) stretches that tenfold, still far under 1 s. Before the
# fix, requests waited behind checkpoint writes for seconds.
P99_SECONDS = 1.0
CORPUS = "the quick brown fox jumps over the lazy dog " * 120


def timed(client: httpx.Client, method: str, url: str, **kwargs) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.request(method, url, **kwargs)
    return time.perf_counter() - started, response


def mutating_requests(client: httpx.Client) -> list[float]:
    """Submit, cancel, upload and delete, ROUNDS times; the time of each request."""
    seconds: list[float] = []
    for _ in range(ROUNDS):
        took, submitted = timed(
            client, "POST", "/train", json={"task": "binary_addition", "hyperparams": {}}
        )
        assert submitted.status_code == 202, submitted.text
        seconds.append(took)
        job_id = submitted.json()["id"]
        took, cancelled = timed(client, "POST", f"/jobs/{job_id}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        seconds.append(took)
        took, deleted = timed(client, "DELETE", f"/jobs/{job_id}")
        assert deleted.status_code == 204, deleted.text
        seconds.append(took)
        took, uploaded = timed(
            client,
            "POST",
            "/corpora?name=latency",
            content=CORPUS,
            headers={"content-type": "text/plain"},
        )
        assert uploaded.status_code == 201, uploaded.text
        seconds.append(took)
    return seconds


@pytest.mark.slow
def test_mutating_requests_answer_within_a_second_while_two_jobs_checkpoint(backend) -> None:
    live = backend(max_concurrent_jobs="2", checkpoint_seconds="1")
    jobs = [live.train("next_word", seed=seed, **BUSY_JOB) for seed in (1, 2)]
    for job in jobs:
        wait_for_checkpoint(live, job["id"])
    seconds = mutating_requests(live.client)
    for job in jobs:  # both kept training (and checkpointing) the whole time
        assert live.client.get(f"/jobs/{job['id']}").json()["status"] == "running"
        took, cancelled = timed(live.client, "POST", f"/jobs/{job['id']}/cancel")
        assert cancelled.status_code == 202
        seconds.append(took)
    p99 = statistics.quantiles(seconds, n=100)[98]
    print(
        f"mutating requests: n={len(seconds)} median={statistics.median(seconds):.4f} s "
        f"p99={p99:.4f} s max={max(seconds):.4f} s"
    )
    assert p99 < P99_SECONDS, sorted(seconds)[-5:]
