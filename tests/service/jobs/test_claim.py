"""Exactly one run per job, whatever the broker delivers (service/jobs/queue.py `claim_job`, the
attempt fence of service/jobs/hooks.py and service/jobs/runner.py), in process on real
databases:
- a job is claimed by compare-and-set: of many deliveries racing for it, one gets an attempt
  and the others get nothing (PostgreSQL, concurrent transactions);
- a run whose job was taken back and claimed again, even by a worker of the same name, writes
  nothing: no metric, no progress, no heartbeat, no checkpoint, no model, no end.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import func, select

from rnnlab.models.training import TrainResult
from rnnlab.service.jobs.heartbeat import JobHeartbeat
from rnnlab.service.jobs.hooks import DatabaseHooks
from rnnlab.service.jobs.queue import claim_job, recover_lost_jobs
from rnnlab.service.jobs.runner import WorkerContext, _finish, _publish
from rnnlab.service.jobs.stop_rules import JobLost
from rnnlab.service.settings import Settings
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Checkpoint, Job, JobStatus, Metric, TrainedModel

WORKER = "host-a:4242"
RACERS = 8


def queued_job(db: Database) -> int:
    with db.write() as session:
        job = Job(task="binary_addition", hyperparams={})
        session.add(job)
        session.flush()
        return job.id


def count(db: Database, table: type, job_id: int) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(table).where(table.job_id == job_id))


@pytest.mark.postgres
def test_of_deliveries_racing_for_a_job_exactly_one_claims_it(postgres_db: Database) -> None:
    job_id = queued_job(postgres_db)
    start = threading.Barrier(RACERS)
    attempts: dict[str, int | None] = {}

    def deliver(worker_id: str) -> None:
        start.wait()
        attempts[worker_id] = claim_job(postgres_db, job_id, worker_id)

    threads = [threading.Thread(target=deliver, args=(f"host:{n}",)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = {worker: attempt for worker, attempt in attempts.items() if attempt is not None}
    assert list(winners.values()) == [1], attempts
    with postgres_db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.status, job.attempt, job.worker_id) == ("running", 1, next(iter(winners)))
    assert claim_job(postgres_db, job_id, "host:late") is None  # a later copy: nothing


def test_a_finished_or_cancelled_job_is_never_claimed(migrated_db: Database) -> None:
    job_id = queued_job(migrated_db)
    with migrated_db.write() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status = JobStatus.CANCELLED
    assert claim_job(migrated_db, job_id, WORKER) is None
    assert claim_job(migrated_db, 10_000, WORKER) is None  # deleted meanwhile


def test_a_run_that_lost_its_attempt_writes_nothing(migrated_db: Database) -> None:
    """The first run's worker is slow to notice (a long step, a paused machine): its job was
    recovered and claimed again by a process of the same name. The stale run's writes find
    the row taken by attempt 2 and change nothing."""
    db = migrated_db
    job_id = queued_job(db)
    assert claim_job(db, job_id, WORKER) == 1
    stale = DatabaseHooks(db, job_id, WORKER, 60, attempt=1)
    stale.report(10, {"loss": 1.0}, 0.1)
    assert recover_lost_jobs(db, [WORKER], max_attempts=3, stale_after=None) == [job_id]
    assert claim_job(db, job_id, WORKER) == 2
    with db.read() as session:
        claimed_at = session.scalar(select(Job.heartbeat_at).where(Job.id == job_id))

    with pytest.raises(JobLost), db.write() as session:
        stale.flush(session)
    assert not JobHeartbeat(db, job_id, WORKER, attempt=1, seconds=60).beat()
    with pytest.raises(JobLost):
        stale.save_checkpoint(10, {"step": np.array(10)})
    context = WorkerContext(db, Settings(), WORKER)
    weights = {"W": np.zeros((2, 2), np.float32)}
    _publish(context, job_id, 1, "binary_addition", {}, TrainResult(weights), stale)
    _finish(context, job_id, 1, JobStatus.FAILED, "stale")

    assert (count(db, Metric, job_id), count(db, Checkpoint, job_id)) == (0, 0)
    assert count(db, TrainedModel, job_id) == 0
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.status, job.attempt, job.progress, job.error) == ("running", 2, 0.0, None)
        assert job.heartbeat_at == claimed_at

    assert JobHeartbeat(db, job_id, WORKER, attempt=2, seconds=60).beat()

    current = DatabaseHooks(db, job_id, WORKER, 60, attempt=2)
    current.report(10, {"loss": 1.0}, 0.1)
    with db.write() as session:
        current.flush(session)  # the run that holds the job writes as before
    assert count(db, Metric, job_id) == 1
