"""A job's checkpoint is deleted when the job ends, whatever the outcome: no blob is left
behind by a failure ("worker lost", time limit), a cancel, or a recovery at start-up."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from rnnlab.service.jobs.checkpoints import PART_BYTES, read_checkpoint, save_checkpoint
from rnnlab.service.jobs.queue import cancel_job, claim_next_job, recover_lost_jobs
from rnnlab.service.store.blobs import arrays_to_npz
from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from rnnlab.service.store.tables import Checkpoint, CheckpointPart, Job, JobStatus
from tests.conftest import LiveService, postgres_available
from tests.service.test_recovery import wait_for_checkpoint

LONG_JOB = {"epochs": 10_000, "seed": 3}


def stored_rows(db: Database, job_id: int) -> int:
    """Checkpoint rows and parts of `job_id` in the database."""
    with db.read() as session:
        rows = session.scalar(select(func.count()).where(Checkpoint.job_id == job_id))
        parts = session.scalar(select(func.count()).where(CheckpointPart.job_id == job_id))
    return (rows or 0) + (parts or 0)


def live_rows(live: LiveService, job_id: int) -> int:
    url = live.env.get("RNNLAB_DATABASE_URL") or f"sqlite:///{live.data_dir / 'rnnlab.db'}"
    db = Database.connect(url)
    try:
        return stored_rows(db, job_id)
    finally:
        db.dispose()


def checkpointed(live: LiveService) -> tuple[dict, int]:
    """A running next-word job with a checkpoint, and its worker's pid."""
    job = live.train("next_word", **LONG_JOB)
    running = wait_for_checkpoint(live, job["id"])
    assert live_rows(live, job["id"]) > 0
    return running, int(running["worker"].rsplit(":", 1)[1])


def assert_ended_without_checkpoint(live: LiveService, job_id: int, status: str) -> dict:
    finished = live.wait_for_job(job_id, timeout=60)
    assert finished["status"] == status, finished
    assert finished["checkpoint_step"] is None
    assert live_rows(live, job_id) == 0
    return finished


@pytest.mark.slow
def test_worker_lost_deletes_the_checkpoint(backend) -> None:
    live = backend(max_attempts="1", checkpoint_seconds="0.2")
    job, pid = checkpointed(live)
    os.kill(pid, signal.SIGKILL)
    finished = assert_ended_without_checkpoint(live, job["id"], "failed")
    assert finished["error"].startswith("worker lost: the process running it died")


@pytest.mark.slow
def test_time_limit_deletes_the_checkpoint(backend) -> None:
    live = backend(job_time_limit_seconds="4", checkpoint_seconds="0.2")
    job, _ = checkpointed(live)
    finished = assert_ended_without_checkpoint(live, job["id"], "failed")
    assert finished["error"].startswith("time limit")


@pytest.mark.slow
def test_cancel_of_a_running_job_deletes_the_checkpoint(backend) -> None:
    live = backend(checkpoint_seconds="0.2")
    job, _ = checkpointed(live)
    assert live.client.post(f"/jobs/{job['id']}/cancel").status_code == 202
    assert_ended_without_checkpoint(live, job["id"], "cancelled")


@pytest.mark.slow
def test_recovery_at_start_up_that_fails_the_job_deletes_the_checkpoint(
    backend, tmp_path: Path
) -> None:
    data = tmp_path / "restart"
    first = backend(data, max_attempts="1", checkpoint_seconds="0.2")
    job, _ = checkpointed(first)
    first.kill()
    second = backend(data, max_attempts="1")
    finished = assert_ended_without_checkpoint(second, job["id"], "failed")
    assert finished["error"].startswith("worker lost")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rnnlab.db'}"
    elif not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    else:
        url = request.getfixturevalue("postgres_url")
    db = Database.connect(url)
    upgrade(db)
    yield db
    db.dispose()


def running_with_checkpoint(db: Database, size: int = 3 * PART_BYTES) -> tuple[int, bytes]:
    """A job claimed by worker "w:1" that saved a checkpoint of several parts."""
    with db.write() as session:
        job = Job(task="next_word", hyperparams={})
        session.add(job)
        session.flush()
        job_id = job.id
    assert claim_next_job(db, "w:1") == job_id
    state = {"x": np.arange(size // 4, dtype=np.float32)}
    blob = arrays_to_npz(state)
    for step in (1, 2):  # the second replaces the first, whose parts go
        save_checkpoint(db, job_id, step, blob, in_swap=lambda session: None)
    return job_id, blob


def test_a_checkpoint_reads_back_as_written_and_replaces_the_previous(database) -> None:
    job_id, blob = running_with_checkpoint(database)
    assert read_checkpoint(database, job_id)[:2] == (2, blob)  # type: ignore[index]
    parts = -(-len(blob) // PART_BYTES)
    assert stored_rows(database, job_id) == 1 + parts  # the row and one generation's parts


def test_cancel_of_a_requeued_job_deletes_its_checkpoint(database) -> None:
    job_id, _ = running_with_checkpoint(database)
    assert recover_lost_jobs(database, ["w:1"], 3, None) == [job_id]  # back in the queue
    assert stored_rows(database, job_id) > 0  # kept: it resumes from there
    assert cancel_job(database, job_id).status == JobStatus.CANCELLED
    assert stored_rows(database, job_id) == 0


def test_worker_lost_after_the_last_attempt_deletes_the_checkpoint(database) -> None:
    job_id, _ = running_with_checkpoint(database)
    recover_lost_jobs(database, ["w:1"], 1, None)
    with database.read() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.FAILED
    assert stored_rows(database, job_id) == 0
