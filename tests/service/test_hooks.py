"""The bridge between a train loop and the database, on a real SQLite database."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from rnnlab.service.jobs.hooks import DatabaseHooks, ShuttingDown
from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from rnnlab.service.store.tables import Job, JobStatus

WORKER = "host:1"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database.connect(f"sqlite:///{tmp_path / 'hooks.db'}")
    upgrade(database)
    return database


def running_job(db: Database, progress: float) -> int:
    with db.write() as session:
        job = Job(task="binary_addition", hyperparams={}, status=JobStatus.RUNNING)
        job.worker_id, job.progress = WORKER, progress
        session.add(job)
        session.flush()
        return job.id


def stored_progress(db: Database, job_id: int) -> float:
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.progress


def hooks_for(db: Database, job_id: int, **kwargs) -> DatabaseHooks:
    return DatabaseHooks(db, job_id, WORKER, checkpoint_seconds=60, time_limit_seconds=60, **kwargs)


def test_a_resumed_job_keeps_its_progress_until_it_gets_further(db: Database) -> None:
    job_id = running_job(db, 0.787)
    hooks = hooks_for(db, job_id, progress=stored_progress(db, job_id))
    with db.write() as session:
        hooks.flush(session)  # before the loop has reported anything
    assert stored_progress(db, job_id) == pytest.approx(0.787)
    hooks.report(10, {"loss": 1.0}, 0.5)  # a step replayed from the checkpoint
    with db.write() as session:
        hooks.flush(session)
    assert stored_progress(db, job_id) == pytest.approx(0.787)
    hooks.report(20, {"loss": 0.5}, 0.9)
    with db.write() as session:
        hooks.flush(session)
    assert stored_progress(db, job_id) == pytest.approx(0.9)


def test_a_stopping_worker_checkpoints_then_stops(db: Database) -> None:
    stopping = threading.Event()
    hooks = hooks_for(db, running_job(db, 0.0), stopping=stopping)
    assert not hooks.checkpoint_due() and not hooks.should_stop()
    stopping.set()
    assert not hooks.should_stop()  # not before its state is saved
    assert hooks.checkpoint_due()
    hooks.save_checkpoint(7, {"w": np.zeros(3, dtype=np.float32)})
    with pytest.raises(ShuttingDown):  # the stop reason: handed back, not cancelled
        hooks.should_stop()
