"""RNNLAB_EXECUTOR=celery end to end, with real processes: `rnnlab serve` stores jobs and sends
their ids, `rnnlab worker` trains them; cancel and the time limit reach a job on any worker."""

from __future__ import annotations

import signal
import time

from tests.service.scale.conftest import Cluster

LONG = {"epochs": 10_000}  # next word on the demo corpus: far longer than any test waits


def wait_running(cluster: Cluster, job_id: int) -> dict:
    assert cluster.api is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = cluster.api.client.get(f"/jobs/{job_id}").json()
        if job["status"] == "running" and job["progress"] > 0:
            return job
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not start:\n{cluster.logs()[-3000:]}")


def test_jobs_of_both_tasks_train_on_a_worker_and_never_in_the_api(cluster: Cluster) -> None:
    api = cluster.start_api()
    ready = api.client.get("/readyz")
    assert ready.status_code == 200, ready.text  # database and broker answer, no worker needed
    sums = api.train("binary_addition", iterations=300)
    words = api.train("next_word", epochs=1, hidden_size=16, embedding_size=8)
    assert api.client.get(f"/jobs/{sums['id']}").json()["status"] == "queued"

    worker = cluster.start_worker()
    for job in (sums, words):
        finished = api.wait_for_job(job["id"], timeout=120)
        assert finished["status"] == "succeeded", finished
        assert finished["attempt"] == 1
    assert "started: binary_addition" in worker.log()
    assert "started: next_word" in worker.log()
    assert "started:" not in api.log()  # the web process trained nothing
    assert api.client.get("/predict", params={"a": 37, "b": 45}).json()["sum"] == 82
    scrape = api.client.get("/metrics").text
    assert 'rnnlab_jobs{status="succeeded"} 2.0' in scrape


def test_cancel_reaches_a_job_on_a_worker_within_a_second(cluster: Cluster) -> None:
    api = cluster.start_api()
    cluster.start_worker()
    job = api.train("next_word", **LONG)
    wait_running(cluster, job["id"])
    asked = time.monotonic()
    assert api.client.post(f"/jobs/{job['id']}/cancel").status_code == 202
    finished = api.wait_for_job(job["id"], timeout=30)
    # The worker reads the flag at each flush (every 0.5 s), then writes the end: 1 s is the
    # promise; polling every 50 ms and a loaded machine add a little, hence 1.5 s.
    took = time.monotonic() - asked
    assert finished["status"] == "cancelled", finished
    assert finished["model_id"] is None
    assert took < 1.5, f"cancelled after {took:.2f} s"


def test_a_job_over_its_time_limit_fails_on_a_worker(cluster: Cluster) -> None:
    api = cluster.start_api()
    cluster.start_worker(job_time_limit_seconds="2")  # the limit is the worker's setting
    job = api.train("next_word", **LONG)
    finished = api.wait_for_job(job["id"], timeout=60)
    assert finished["status"] == "failed", finished
    assert finished["error"].startswith("time limit: the job ran 2 s"), finished


def test_jobs_and_a_sweep_run_over_rabbitmq(amqp_cluster: Cluster) -> None:
    api = amqp_cluster.start_api()
    amqp_cluster.start_worker(concurrency=2)
    jobs = [api.train("binary_addition", iterations=200, seed=seed) for seed in range(4)]
    sweep = api.client.post(
        "/sweeps",
        json={"task": "binary_addition", "hyperparams": {"iterations": 200}, "seeds": [5, 6]},
    )
    assert sweep.status_code == 202, sweep.text
    jobs += api.client.get("/jobs", params={"sweep_id": sweep.json()["id"]}).json()["jobs"]
    assert len(jobs) == 6
    for job in jobs:
        finished = api.wait_for_job(job["id"], timeout=120)
        assert finished["status"] == "succeeded", finished
        assert finished["attempt"] == 1
    assert api.client.get("/readyz").status_code == 200


def test_a_stopped_worker_hands_its_job_back_and_another_resumes_it(cluster: Cluster) -> None:
    api = cluster.start_api()
    first = cluster.start_worker()
    job = api.train("next_word", **LONG)
    wait_running(cluster, job["id"])
    first.process.send_signal(signal.SIGTERM)  # docker stop, systemctl stop
    assert first.process.wait(timeout=60) == 0
    handed_back = api.client.get(f"/jobs/{job['id']}").json()
    assert handed_back["status"] == "queued", handed_back
    assert handed_back["attempt"] == 0  # a clean stop spends no attempt
    assert handed_back["checkpoint_step"], handed_back
    assert f"job {job['id']} checkpointed and went back to the queue" in first.log()

    api.stop()  # nothing sends the id again: the broker kept its message
    second = cluster.start_worker()
    deadline = time.monotonic() + 60
    while f"job {job['id']} resumed:" not in second.log():
        assert time.monotonic() < deadline, second.log()
        time.sleep(0.1)
    api = cluster.start_api()
    assert api.client.get(f"/jobs/{job['id']}").json()["attempt"] == 1
    api.client.post(f"/jobs/{job['id']}/cancel")
    assert api.wait_for_job(job["id"])["status"] == "cancelled"
