"""Celery's holes, closed, on real processes and real brokers:
- many workers, many jobs: each runs exactly once, its metrics contiguous, no step twice;
- a worker killed mid-job (kill -9): another one resumes it from its checkpoint, with the very
  weights of an uninterrupted run; a job whose worker keeps dying fails after its attempts;
- a Redis visibility timeout shorter than a job delivers it twice: it still runs once;
- Redis lost its messages (restarted without saving) with jobs queued: they all still run.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time

import pytest

from tests.conftest import LiveService
from tests.service.scale.conftest import Cluster, RedisServer
from tests.service.test_recovery import JOB, assert_same_run, metric_series, model_sha

# How long a killed or stopped worker's job may take to run again: a new pool process imports
# numpy and the service first, which takes seconds on an idle machine and can take a minute or
# more on a loaded one (CI beside other jobs). The tests wait for the event, not for this long.
RESUME_CEILING = 180

pytestmark = pytest.mark.slow


def runs_of(cluster: Cluster, job_id: int) -> int:
    """How many times a worker started (or resumed) the job, from every worker's log."""
    logs = cluster.logs()
    return logs.count(f"job {job_id} started:") + logs.count(f"job {job_id} resumed:")


def assert_contiguous(api: LiveService, job: dict) -> None:
    """Every metric's steps at each `log_every`, the last one at most that far: no step
    twice, none missing."""
    every = job["hyperparams"]["log_every"]
    for name, points in metric_series(api, job["id"]).items():
        steps = [step for step, _ in points]
        assert len(steps) == len(set(steps)), f"job {job['id']} {name}: a step twice"
        gaps = [later - earlier for earlier, later in itertools.pairwise(steps)]
        if name in ("loss", "accuracy"):  # per log step; the others once per epoch
            assert all(gap == every for gap in gaps[:-1]), f"job {job['id']} {name}: {steps}"
            assert not gaps or 0 < gaps[-1] <= every, f"job {job['id']} {name}: {steps}"


def worker_running(cluster: Cluster, job: dict) -> tuple[int, int]:
    """(index of the worker whose pool process runs the job, that process's pid)."""
    pid = int(job["worker"].rsplit(":", 1)[1])
    for index, worker in enumerate(cluster.workers):
        if pid in worker.pool_pids():
            return index, pid
    raise AssertionError(f"no worker runs {job['worker']}")


def wait_for_checkpoint(api: LiveService, job_id: int) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = api.client.get(f"/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        if job["status"] == "running" and job["checkpoint_step"]:
            return job
        time.sleep(0.02)
    raise AssertionError("no checkpoint within 120 s")


def test_three_workers_run_thirty_jobs_of_both_tasks_exactly_once(cluster: Cluster) -> None:
    api = cluster.start_api()
    for _ in range(3):
        cluster.start_worker()
    small = {"epochs": 1, "hidden_size": 16, "embedding_size": 8, "log_every": 10}
    jobs = [api.train("binary_addition", iterations=300, seed=seed) for seed in range(15)]
    jobs += [api.train("next_word", seed=seed, **small) for seed in range(15)]
    finished = [api.wait_for_job(job["id"], timeout=300) for job in jobs]

    for job in finished:
        assert (job["status"], job["attempt"]) == ("succeeded", 1), job
        assert runs_of(cluster, job["id"]) == 1, job
        assert_contiguous(api, job)
    models = api.client.get("/models", params={"limit": 100}).json()["models"]
    assert sorted(model["job_id"] for model in models) == sorted(job["id"] for job in jobs)
    busy = [worker for worker in cluster.workers if "started:" in worker.log()]
    assert len(busy) == 3, "every worker took jobs"


def test_a_killed_worker_s_job_resumes_on_another_worker_bit_identical(
    cluster: Cluster,
) -> None:
    # A silent job is lost after 3 s, not 30: the test waits less. The heartbeat of a running
    # job is written every 0.5 s.
    api = cluster.start_api(heartbeat_timeout_seconds="3")
    for _ in range(2):
        cluster.start_worker(checkpoint_seconds="0.2")
    reference = api.wait_for_job(api.train("next_word", **JOB)["id"], timeout=600)
    assert reference["status"] == "succeeded", reference
    uninterrupted = (reference, metric_series(api, reference["id"]), model_sha(api, reference))

    job = api.train("next_word", **JOB)
    index, _ = worker_running(cluster, wait_for_checkpoint(api, job["id"]))
    cluster.workers[index].kill()  # the machine dies: its broker connection, its processes
    finished = api.wait_for_job(job["id"], timeout=600)

    assert finished["status"] == "succeeded", finished
    assert finished["attempt"] == 2
    other = cluster.workers[1 - index].log()
    assert f"job {job['id']} resumed:" in other
    assert_same_run(api, finished, uninterrupted)


def test_a_killed_pool_process_s_job_is_delivered_again_and_resumes(cluster: Cluster) -> None:
    # The heartbeat sweep would take 30 s: the job resumes sooner, because the delivery that
    # Celery sends again finds its holder dead on this machine.
    api = cluster.start_api()
    cluster.start_worker(checkpoint_seconds="0.2")
    job = api.train("next_word", **JOB)
    _, pid = worker_running(cluster, wait_for_checkpoint(api, job["id"]))
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    resumed = api.wait_for_job(job["id"], timeout=RESUME_CEILING, until=("running",))
    while resumed["attempt"] != 2 or resumed["status"] != "running":
        assert time.monotonic() - killed < RESUME_CEILING, resumed
        time.sleep(0.05)
        resumed = api.client.get(f"/jobs/{job['id']}").json()
    api.client.post(f"/jobs/{job['id']}/cancel")
    assert api.wait_for_job(job["id"])["status"] == "cancelled"
    assert f"job {job['id']} resumed:" in cluster.logs()


def test_a_stopped_pool_process_is_killed_and_its_job_resumes(cluster: Cluster) -> None:
    """SIGSTOP on the only pool process of the only worker: alive, Celery would never replace
    it, and the queue would stall. The worker's watchdog kills it once it has been silent for
    the heartbeat timeout; a new process resumes the job from its checkpoint."""
    api = cluster.start_api(heartbeat_timeout_seconds="3")
    cluster.start_worker(heartbeat_timeout_seconds="3", checkpoint_seconds="0.2")
    job = api.train("next_word", **JOB)
    _, pid = worker_running(cluster, wait_for_checkpoint(api, job["id"]))
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        resumed = api.client.get(f"/jobs/{job['id']}").json()
        while (resumed["status"], resumed["attempt"]) != ("running", 2):
            assert time.monotonic() - stopped < RESUME_CEILING, resumed
            time.sleep(0.1)
            resumed = api.client.get(f"/jobs/{job['id']}").json()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # the test's failure leaves no stopped process
    assert f"pool process {pid} stopped answering" in cluster.logs()
    assert f"job {job['id']} lost its worker: its worker stopped answering" in cluster.logs()
    assert int(resumed["worker"].rsplit(":", 1)[1]) != pid
    api.client.post(f"/jobs/{job['id']}/cancel")
    assert api.wait_for_job(job["id"])["status"] == "cancelled"


def test_a_pool_process_trains_without_blas_threads_of_its_own(cluster: Cluster) -> None:
    """BLAS runs single-threaded under the model's own pool: OpenBLAS's default threads, in
    every pool process, spun against their neighbours (two workers on two cores ran next-word
    jobs 4x slower each, fewer a minute than one worker). While a job trains, its process has
    its main thread and its heartbeat's, and no other."""
    api = cluster.start_api()
    cluster.start_worker()
    job = api.train("next_word", epochs=10_000)
    _, pid = worker_running(cluster, api.wait_for_job(job["id"], until=("running",)))
    time.sleep(0.5)  # well into its steps: BLAS has started whatever threads it starts
    threads = []
    for _ in range(10):
        threads.append(len(os.listdir(f"/proc/{pid}/task")))
        time.sleep(0.05)
    assert max(threads) == 2, threads
    api.client.post(f"/jobs/{job['id']}/cancel")
    assert api.wait_for_job(job["id"])["status"] == "cancelled"


def test_a_job_whose_worker_keeps_dying_fails_after_its_attempts(cluster: Cluster) -> None:
    api = cluster.start_api(max_attempts="2")
    cluster.start_worker(max_attempts="2")
    job = api.train("next_word", epochs=10_000)
    for attempt in (1, 2):
        running = api.wait_for_job(job["id"], until=("running",))
        while running["attempt"] != attempt or running["status"] != "running":
            time.sleep(0.05)
            running = api.client.get(f"/jobs/{job['id']}").json()
        os.kill(worker_running(cluster, running)[1], signal.SIGKILL)
    finished = api.wait_for_job(job["id"], timeout=60)
    assert finished["status"] == "failed", finished
    assert finished["error"].startswith("worker lost"), finished
    assert finished["attempt"] == 2
    # The worker itself carries on with the next job.
    assert api.wait_for_job(api.train("binary_addition")["id"])["status"] == "succeeded"


def test_a_visibility_timeout_shorter_than_the_job_still_runs_it_once(cluster: Cluster) -> None:
    api = cluster.start_api()
    for _ in range(2):  # the second one is idle: Redis hands it the copy
        cluster.start_worker(broker_visibility_timeout_seconds="1")
    # Overdue deliveries are looked for every 0.25 s: the copy comes ~1.25 s after the first
    # delivery. The job lasts ~10 s on an idle machine (longer on a busy one), and the test
    # waits for the copy while the job still runs, whatever the machine's pace.
    job = api.train("next_word", epochs=80, hidden_size=64, log_every=10)
    deadline = time.monotonic() + 60
    while "delivery dropped" not in cluster.logs():
        status = api.client.get(f"/jobs/{job['id']}").json()["status"]
        assert status in ("queued", "running"), "the job ended before Redis delivered it twice"
        assert time.monotonic() < deadline, "Redis never delivered the job twice"
        time.sleep(0.1)
    finished = api.wait_for_job(job["id"], timeout=300)

    assert (finished["status"], finished["attempt"]) == ("succeeded", 1), finished
    assert runs_of(cluster, job["id"]) == 1
    assert_contiguous(api, finished)


def test_jobs_queued_when_redis_loses_its_messages_all_run(
    own_redis_cluster: Cluster, own_redis: RedisServer
) -> None:
    cluster = own_redis_cluster
    api = cluster.start_api(resend_after_seconds="2")
    cluster.start_worker()
    # The only worker is busy (~5 s on an idle machine) while the others wait in Redis.
    blocker = api.train("next_word", epochs=40, hidden_size=64)
    api.wait_for_job(blocker["id"], until=("running",))
    queued = [api.train("binary_addition", iterations=200, seed=seed) for seed in range(5)]
    time.sleep(0.5)  # the ids reach Redis

    statuses = [api.client.get(f"/jobs/{job['id']}").json()["status"] for job in queued]
    assert statuses == ["queued"] * 5, "the blocker ended before Redis lost the queued jobs"
    own_redis.stop()  # its messages are gone with it
    assert_not_ready_then_accepts(api)
    own_redis.start()

    for job in [blocker, *queued]:
        finished = api.wait_for_job(job["id"], timeout=300)
        assert (finished["status"], finished["attempt"]) == ("succeeded", 1), finished
        assert runs_of(cluster, job["id"]) == 1
    assert api.client.get("/readyz").status_code == 200


def assert_not_ready_then_accepts(api: LiveService) -> None:
    """While the broker is down, /readyz says so (it is checked every 5 s) and a job is still
    accepted: the database keeps it."""
    deadline = time.monotonic() + 30
    while (ready := api.client.get("/readyz")).status_code == 200:
        assert time.monotonic() < deadline, "/readyz never noticed the broker was down"
        time.sleep(0.2)
    assert "broker unreachable" in ready.json()["detail"]
    late = api.train("binary_addition", iterations=200, seed=99)
    assert late["status"] == "queued"
