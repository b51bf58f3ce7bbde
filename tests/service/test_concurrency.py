"""Requests that race each other: the queue cap holds under concurrent submits, and a job and
the deletion of its corpus never both succeed (nor answer 500), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import LiveService

BUSY = {"iterations": 10_000_000, "stop_at_accuracy": 1.0, "learning_rate": 1e-9}
TEXT = " ".join(f"w{i % 50} and the cat" for i in range(400)).replace("0", "o")


def _all_at_once(live: LiveService, requests: list[Callable[[httpx.Client], int]]) -> list[int]:
    """Run each request on its own connection, released together; their status codes."""
    barrier = threading.Barrier(len(requests))

    def run(request: Callable[[httpx.Client], int]) -> int:
        with httpx.Client(base_url=live.base_url, timeout=60) as client:
            client.get("/healthz")  # connect first: only the racing requests race
            barrier.wait()
            return request(client)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(run, requests))


def _occupy_the_worker(live: LiveService) -> dict:
    """A job that keeps the only worker busy, so that submitted jobs stay queued."""
    job = live.train("binary_addition", **BUSY)
    live.wait_for_job(job["id"], until=("running",))
    return job


def test_the_queue_cap_holds_under_30_concurrent_submits(backend) -> None:
    live: LiveService = backend(max_queued_jobs="5")
    busy = _occupy_the_worker(live)

    def submit(client: httpx.Client) -> int:
        body = {"task": "binary_addition", "hyperparams": {}}
        return client.post("/train", json=body).status_code

    statuses = Counter(_all_at_once(live, [submit] * 30))
    assert statuses == {202: 5, 429: 25}, statuses
    queued = live.client.get("/jobs", params={"status": "queued"}).json()["count"]
    assert queued == 5
    live.client.post(f"/jobs/{busy['id']}/cancel")


def test_train_racing_the_deletion_of_its_corpus_never_answers_500(backend) -> None:
    live: LiveService = backend()
    busy = _occupy_the_worker(live)
    outcomes: Counter[tuple[int, int]] = Counter()
    for _ in range(30):
        corpus = live.client.post("/corpora", content=TEXT).json()

        def train(client: httpx.Client, corpus_id: int = corpus["id"]) -> int:
            body = {"task": "next_word", "hyperparams": {"corpus_id": corpus_id, "epochs": 1}}
            return client.post("/train", json=body).status_code

        def delete(client: httpx.Client, corpus_id: int = corpus["id"]) -> int:
            return client.delete(f"/corpora/{corpus_id}").status_code

        trained, deleted = _all_at_once(live, [train, delete])
        outcomes[trained, deleted] += 1
        # Exactly one wins: the job (and the corpus stays), or the deletion (and no job).
        assert (trained, deleted) in ((202, 409), (404, 204)), outcomes
        exists = live.client.get(f"/corpora/{corpus['id']}").status_code == 200
        assert exists == (trained == 202)
    for job in live.client.get("/jobs", params={"status": "queued"}).json()["jobs"]:
        live.client.post(f"/jobs/{job['id']}/cancel")
    live.client.post(f"/jobs/{busy['id']}/cancel")
