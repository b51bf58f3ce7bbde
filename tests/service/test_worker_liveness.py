"""Slow, dead and stuck workers told apart: a step longer than the heartbeat timeout is not a
lost worker; a stopped worker (SIGSTOP) is killed and replaced, and its job resumes."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from datetime import datetime

import pytest

from tests.conftest import LiveService
from tests.service.test_recovery import JOB, wait_for_checkpoint, wait_until_dead

TIMEOUT = "2"  # RNNLAB_HEARTBEAT_TIMEOUT_SECONDS: well under one step of SLOW_STEP below
# ~2,600 words, 11 distinct: an epoch of four windows of 32 x 20 words, so the job is short
# but each step of an LSTM this wide takes 5-12 s on two cores (the BLAS work of ~140 GFLOP).
TINY_CORPUS = "the cat sat on the mat and the dog ran to the park " * 200
SLOW_STEP = {"hidden_size": 3000, "batch_size": 32, "seq_len": 20, "embedding_size": 16}


def worker_pid(job: dict) -> int:
    return int(job["worker"].rsplit(":", 1)[1])


def longest_step_seconds(live: LiveService, job_id: int) -> float:
    """The longest time between two logged losses (log_every 1: one per step)."""
    metrics = live.client.get(f"/jobs/{job_id}/metrics", params={"name": "loss"}).json()
    stamps = [datetime.fromisoformat(m["timestamp"]) for m in metrics["metrics"]]
    return max((b - a).total_seconds() for a, b in itertools.pairwise(stamps))


@pytest.mark.slow
def test_a_step_longer_than_the_heartbeat_timeout_is_not_a_lost_worker(service_factory) -> None:
    live = service_factory(heartbeat_timeout_seconds=TIMEOUT)
    corpus = live.client.post(
        "/corpora?name=tiny", content=TINY_CORPUS, headers={"content-type": "text/plain"}
    )
    assert corpus.status_code == 201, corpus.text
    job = live.train("next_word", corpus_id=corpus.json()["id"], epochs=1, log_every=1, **SLOW_STEP)
    finished = live.wait_for_job(job["id"], timeout=300)
    assert finished["status"] == "succeeded", finished
    assert finished["attempt"] == 1, live.log()[-3000:]
    assert "lost its worker" not in live.log()
    # The premise: the worker wrote nothing from its training loop for longer than the timeout.
    assert longest_step_seconds(live, job["id"]) > float(TIMEOUT)


@contextlib.contextmanager
def stopped(pid: int):
    """SIGSTOP `pid`; whatever happens, it does not outlive the test."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_stopped_worker_is_killed_and_replaced_and_its_job_resumes(service_factory) -> None:
    live = service_factory(heartbeat_timeout_seconds=TIMEOUT, checkpoint_seconds="0.2")
    job = live.train("next_word", **JOB)
    running = wait_for_checkpoint(live, job["id"])
    pid = worker_pid(running)
    with stopped(pid):
        finished = live.wait_for_job(job["id"], timeout=300)
        assert wait_until_dead(pid), "the stopped worker was not killed"
    assert finished["status"] == "succeeded", finished
    assert finished["attempt"] == 2  # resumed on the replacement, from its checkpoint
    log = live.log()
    assert f"job {job['id']} resumed" in log
    assert f"worker {pid}: stopped answering (no heartbeat, no CPU time for" in log
    assert live.client.get("/readyz").status_code == 200  # a live worker takes jobs


@pytest.mark.slow
def test_a_worker_stopped_at_every_attempt_fails_the_job_saying_so(service_factory) -> None:
    live = service_factory(heartbeat_timeout_seconds=TIMEOUT, max_attempts="1")
    job = live.train("next_word", epochs=10_000)
    running = live.wait_for_job(job["id"], until=("running",))
    with stopped(worker_pid(running)):
        finished = live.wait_for_job(job["id"], timeout=60)
    assert finished["status"] == "failed", finished
    assert finished["error"].startswith(
        "worker lost: its worker stopped answering (no heartbeat, no CPU time for "
    ), finished["error"]
    assert finished["error"].endswith("was killed, at attempt 1 of 1 (RNNLAB_MAX_ATTEMPTS)")
    # The queue has a live worker again: the next job runs.
    started = time.monotonic()
    assert live.wait_for_job(live.train("binary_addition")["id"])["status"] == "succeeded"
    assert time.monotonic() - started < 60
