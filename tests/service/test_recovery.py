"""No job is ever lost: a killed worker or a killed service resumes the job from its checkpoint,
with the same step axis and the same final weights as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.conftest import LiveService

# Long enough to be killed mid-way (a few seconds), deterministic for its seed.
JOB = {"epochs": 40, "seed": 3, "log_every": 5}
DETERMINISTIC = ("loss", "train_loss", "test_loss", "test_perplexity", "test_accuracy")


def wait_for_checkpoint(service: LiveService, job_id: int) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = service.client.get(f"/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        if job["status"] == "running" and job["checkpoint_step"]:
            return job
        time.sleep(0.02)
    raise AssertionError("no checkpoint within 60 s")


def wait_until_dead(pid: int, timeout: float = 10.0) -> bool:
    """True once `pid` is gone or a zombie (dead, waiting for whoever adopted it to reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def metric_series(service: LiveService, job_id: int) -> dict[str, list[tuple[int, float]]]:
    metrics = service.client.get(f"/jobs/{job_id}/metrics").json()["metrics"]
    series: dict[str, list[tuple[int, float]]] = {}
    for metric in metrics:
        series.setdefault(metric["name"], []).append((metric["step"], metric["value"]))
    return series


def model_sha(service: LiveService, job: dict) -> str:
    return service.client.get(f"/models/{job['model_id']}").json()["sha256"]


@pytest.fixture(scope="module")
def uninterrupted(service: LiveService) -> tuple[dict, dict, str]:
    job = service.wait_for_job(service.train("next_word", **JOB)["id"], timeout=300)
    assert job["status"] == "succeeded"
    assert job["attempt"] == 1
    return job, metric_series(service, job["id"]), model_sha(service, job)


def assert_same_run(service: LiveService, resumed: dict, uninterrupted: tuple) -> None:
    _, reference_series, reference_sha = uninterrupted
    series = metric_series(service, resumed["id"])
    for name in DETERMINISTIC:
        steps = [step for step, _ in series[name]]
        assert steps == sorted(set(steps)), f"{name}: duplicate or unordered steps"
        assert series[name] == reference_series[name], f"{name} differs from the uninterrupted run"
    assert model_sha(service, resumed) == reference_sha  # bit-identical final weights


@pytest.mark.slow
def test_sigkill_of_the_worker_retries_from_the_checkpoint(
    service_factory, service: LiveService, uninterrupted: tuple
) -> None:
    live = service_factory(checkpoint_seconds="0.2")
    job = live.train("next_word", **JOB)
    running = wait_for_checkpoint(live, job["id"])
    os.kill(int(running["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    finished = live.wait_for_job(job["id"], timeout=300)
    assert finished["status"] == "succeeded", finished
    assert finished["attempt"] == 2
    assert_same_run(live, finished, uninterrupted)
    assert "exited with code -9" in live.log()


@pytest.mark.slow
def test_kill_9_of_the_service_then_restart_resumes_the_job(
    service_factory, tmp_path, uninterrupted: tuple
) -> None:
    data = tmp_path / "shared-data"
    first = service_factory(data, checkpoint_seconds="0.2")
    job = first.train("next_word", **JOB)
    checkpointed = wait_for_checkpoint(first, job["id"])
    worker_pid = int(checkpointed["worker"].rsplit(":", 1)[1])
    first.kill()
    assert wait_until_dead(worker_pid), "the worker outlived its service"

    second = service_factory(data, checkpoint_seconds="0.2")
    finished = second.wait_for_job(job["id"], timeout=300)
    assert finished["status"] == "succeeded", finished
    assert finished["attempt"] == 2
    assert_same_run(second, finished, uninterrupted)


@pytest.mark.slow
def test_queued_jobs_run_after_a_restart(service_factory, tmp_path) -> None:
    data = tmp_path / "queue-data"
    first = service_factory(data)
    blocker = first.train("next_word", epochs=10_000)
    first.wait_for_job(blocker["id"], until=("running",))
    waiting = first.train("binary_addition")
    first.kill()
    second = service_factory(data, max_concurrent_jobs="2")  # the blocker resumes too
    assert second.wait_for_job(waiting["id"])["status"] == "succeeded"
    resumed = second.wait_for_job(blocker["id"], until=("running",))
    assert resumed["attempt"] == 2
    second.client.post(f"/jobs/{blocker['id']}/cancel")
    assert second.wait_for_job(blocker["id"], timeout=30)["status"] == "cancelled"


@pytest.mark.slow
def test_a_job_whose_worker_keeps_dying_fails_as_worker_lost(service_factory) -> None:
    live = service_factory(max_attempts="2")
    job = live.train("next_word", epochs=10_000)
    for attempt in (1, 2):
        running = live.wait_for_job(job["id"], until=("running",))
        while running["attempt"] != attempt or running["status"] != "running":
            time.sleep(0.05)
            running = live.client.get(f"/jobs/{job['id']}").json()
        os.kill(int(running["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
        time.sleep(0.5)
    finished = live.wait_for_job(job["id"], timeout=30)
    assert finished["status"] == "failed"
    assert finished["error"].startswith("worker lost")
    assert finished["attempt"] == 2
    # The service itself is fine and runs the next job.
    assert live.wait_for_job(live.train("binary_addition")["id"])["status"] == "succeeded"
