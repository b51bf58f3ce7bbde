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
DETERMINISTIC = (
    "loss",
    "train_loss",
    "validation_loss",
    "validation_perplexity",
    "validation_accuracy",
    "test_loss",
    "test_perplexity",
    "test_accuracy",
)


def wait_for_checkpoint(service: LiveService, job_id: int, progress: float = 0.0) -> dict:
    """The running job once it has a checkpoint and has got `progress` far."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = service.client.get(f"/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        if job["status"] == "running" and job["checkpoint_step"] and job["progress"] >= progress:
            return job
        time.sleep(0.02)
    raise AssertionError("no checkpoint that far within 300 s")


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
    # past the best validation epoch: the best weights come from the checkpoint
    running = wait_for_checkpoint(live, job["id"], progress=0.6)
    os.kill(int(running["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    finished = live.wait_for_job(job["id"], timeout=300)
    assert finished["status"] == "succeeded", finished
    assert finished["attempt"] == 2
    assert_same_run(live, finished, uninterrupted)
    best_step = live.client.get(f"/models/{finished['model_id']}").json()["metrics"]["best_step"]
    assert best_step < running["checkpoint_step"]
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


def progress_until_done(service: LiveService, job_id: int) -> tuple[dict, list[float]]:
    """Poll the job to its end; every progress value seen on the way."""
    seen = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = service.client.get(f"/jobs/{job_id}").json()
        seen.append(job["progress"])
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job, seen
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.mark.slow
def test_ctrl_c_mid_job_stops_cleanly_and_the_next_start_resumes_it(
    service_factory, tmp_path, uninterrupted: tuple
) -> None:
    data = tmp_path / "stop-data"
    first = service_factory(data)  # no periodic checkpoint due: the stop itself checkpoints
    job = first.train("next_word", **JOB)
    running = first.wait_for_job(job["id"], until=("running",))
    while running["progress"] < 0.1:
        time.sleep(0.02)
        running = first.client.get(f"/jobs/{job['id']}").json()
    # Ctrl+C in a terminal signals the whole foreground group: the service and its worker.
    first.process.send_signal(signal.SIGINT)
    os.kill(int(running["worker"].rsplit(":", 1)[1]), signal.SIGINT)
    assert first.process.wait(timeout=60) == 0
    log = first.log()
    assert "Traceback" not in log and "leaked" not in log, log
    assert f"job {job['id']} checkpointed and went back to the queue" in log

    second = service_factory(data)
    stopped = second.client.get(f"/jobs/{job['id']}").json()
    finished, seen = progress_until_done(second, job["id"])
    assert finished["status"] == "succeeded", finished
    assert finished["attempt"] == 1  # a clean stop spends no attempt
    assert 0.1 <= stopped["progress"] < 1.0
    assert seen == sorted(seen), "progress went backwards after the restart"
    assert_same_run(second, finished, uninterrupted)


@pytest.mark.slow
def test_sigterm_stops_an_idle_service_at_once_without_leaks(service_factory) -> None:
    live = service_factory()
    started = time.monotonic()
    live.process.send_signal(signal.SIGTERM)
    assert live.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 5  # idle workers do not wait for the grace period
    assert "Traceback" not in live.log() and "leaked" not in live.log()


@pytest.mark.slow
def test_a_job_that_cannot_checkpoint_in_the_grace_period_is_killed_and_requeued(
    service_factory, tmp_path
) -> None:
    data = tmp_path / "grace-data"
    # One epoch of 1,000 steps of a wide model: the worker is mid-step for longer than 0 s.
    first = service_factory(data, shutdown_grace_seconds="0")
    job = first.train("next_word", epochs=10_000, hidden_size=512)
    first.wait_for_job(job["id"], until=("running",))
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=30) == 0
    assert "still busy after 0 s" in first.log()
    second = service_factory(data)
    resumed = second.wait_for_job(job["id"], until=("running",))
    assert resumed["attempt"] == 1
    second.client.post(f"/jobs/{job['id']}/cancel")
    assert second.wait_for_job(job["id"])["status"] == "cancelled"
