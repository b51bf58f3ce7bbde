"""The bridge between a train loop and the database, and its stop rules, on a real SQLite
database."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from rnnlab.service.jobs import early_stop
from rnnlab.service.jobs.early_stop import EARLY_STOPPED, EarlyStopped, MedianRule
from rnnlab.service.jobs.hooks import DatabaseHooks, make_hooks
from rnnlab.service.jobs.stop_rules import (
    Cancel,
    JobCancelled,
    JobLost,
    ParentGone,
    Shutdown,
    ShuttingDown,
    TimeLimit,
    TimeLimitReached,
)
from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from rnnlab.service.store.tables import Job, JobStatus, Metric, Sweep

WORKER = "host:1"
RULE = {"metric": "loss", "min_progress": 0.0, "min_peers": 2}


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database.connect(f"sqlite:///{tmp_path / 'hooks.db'}")
    upgrade(database)
    return database


def running_job(db: Database, progress: float = 0.0, sweep_id: int | None = None) -> int:
    with db.write() as session:
        job = Job(task="binary_addition", hyperparams={}, status=JobStatus.RUNNING)
        job.worker_id, job.progress, job.sweep_id = WORKER, progress, sweep_id
        session.add(job)
        session.flush()
        return job.id


def stored(db: Database, job_id: int) -> Job:
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def metric_count(db: Database, job_id: int) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).where(Metric.job_id == job_id))


def hooks_for(db: Database, job_id: int, rules=(), progress: float = 0.0) -> DatabaseHooks:
    return DatabaseHooks(db, job_id, WORKER, checkpoint_seconds=60, rules=rules, progress=progress)


def flush(db: Database, hooks: DatabaseHooks) -> None:
    with db.write() as session:
        hooks.flush(session)


def test_a_resumed_job_keeps_its_progress_until_it_gets_further(db: Database) -> None:
    job_id = running_job(db, 0.787)
    hooks = hooks_for(db, job_id, progress=stored(db, job_id).progress)
    flush(db, hooks)  # before the loop has reported anything
    assert stored(db, job_id).progress == pytest.approx(0.787)
    hooks.report(10, {"loss": 1.0}, 0.5)  # a step replayed from the checkpoint
    flush(db, hooks)
    assert stored(db, job_id).progress == pytest.approx(0.787)
    hooks.report(20, {"loss": 0.5}, 0.9)
    flush(db, hooks)
    assert stored(db, job_id).progress == pytest.approx(0.9)


def test_a_stopping_worker_checkpoints_then_stops(db: Database) -> None:
    stopping = threading.Event()
    job_id = running_job(db)
    hooks = hooks_for(db, job_id, [Shutdown(job_id, stopping)])
    assert not hooks.checkpoint_due() and not hooks.should_stop()
    stopping.set()
    assert not hooks.should_stop()  # not before its state is saved
    assert hooks.checkpoint_due()
    hooks.save_checkpoint(7, {"w": np.zeros(3, dtype=np.float32)})
    with pytest.raises(ShuttingDown) as stop:  # the stop reason: handed back, not cancelled
        hooks.should_stop()
    assert str(stop.value) == f"job {job_id} handed back: the service stops"


def test_a_checkpoint_begun_before_the_stop_request_does_not_stop_the_job(db: Database) -> None:
    stopping = threading.Event()
    job_id = running_job(db)
    rule = Shutdown(job_id, stopping)
    rule.checkpoint_starting()
    stopping.set()  # while that checkpoint is written
    rule.checkpoint_saved()
    assert rule.at_step(0.0) is None and rule.wants_checkpoint()


def test_the_time_limit_fails_the_job_with_its_message(db: Database) -> None:
    hooks = hooks_for(db, running_job(db), [TimeLimit(0.0)])
    with pytest.raises(TimeLimitReached) as stop:
        hooks.should_stop()
    assert stop.value.status == JobStatus.FAILED
    assert stop.value.error == (
        "time limit: the job ran 0 s (RNNLAB_JOB_TIME_LIMIT_SECONDS); lower iterations or epochs"
    )


def test_a_cancel_is_read_at_the_flush_with_the_metrics_written(db: Database) -> None:
    job_id = running_job(db)
    hooks = hooks_for(db, job_id, [Cancel(job_id)])
    hooks.report(1, {"loss": 1.0}, 0.1)
    flush(db, hooks)
    assert hooks.stopped is None
    with db.write() as session:
        session.get(Job, job_id).cancel_requested = True  # type: ignore[union-attr]
    hooks.report(2, {"loss": 0.9}, 0.2)
    flush(db, hooks)
    assert isinstance(hooks.stopped, JobCancelled)
    assert hooks.stopped.status == JobStatus.CANCELLED
    assert str(hooks.stopped) == f"job {job_id} was cancelled"
    assert metric_count(db, job_id) == 2  # the points up to the cancel are kept
    with pytest.raises(JobCancelled):
        hooks.should_stop()  # the next step stops, without waiting for another flush


def test_a_worker_whose_service_is_gone_writes_nothing(db: Database) -> None:
    job_id = running_job(db)
    hooks = hooks_for(db, job_id, [ParentGone(os.getppid() + 1)])
    hooks.report(1, {"loss": 1.0}, 0.5)
    with pytest.raises(JobLost, match="the service that started this worker is gone"):
        flush(db, hooks)
    assert metric_count(db, job_id) == 0 and stored(db, job_id).progress == 0.0
    assert ParentGone(os.getppid()).at_flush(None) is None  # type: ignore[arg-type]
    assert ParentGone(None).at_flush(None) is None  # type: ignore[arg-type]


def test_the_first_rule_that_answers_decides(db: Database) -> None:
    job_id = running_job(db)
    stopping = threading.Event()
    stopping.set()
    hooks = hooks_for(db, job_id, [TimeLimit(0.0), Shutdown(job_id, stopping)])
    hooks.save_checkpoint(1, {"w": np.zeros(1, dtype=np.float32)})
    with pytest.raises(TimeLimitReached):
        hooks.should_stop()


def sweep_with_peers(db: Database, losses: list[list[float]]) -> int:
    """A sweep with early stopping and finished peers that logged these losses."""
    with db.write() as session:
        sweep = Sweep(task="binary_addition", name="s", tags=[], hyperparams={}, grid={})
        sweep.cells, sweep.seeds, sweep.metric, sweep.early_stopping = [], [0], "loss", RULE
        session.add(sweep)
        session.flush()
        for values in losses:
            peer = Job(task="binary_addition", hyperparams={}, status=JobStatus.SUCCEEDED)
            peer.sweep_id = sweep.id
            session.add(peer)
            session.flush()
            for step, value in enumerate(values):
                session.add(Metric(job_id=peer.id, name="loss", step=step, value=value))
        return sweep.id


def test_the_median_rule_stops_a_run_worse_than_its_peers(db: Database, monkeypatch) -> None:
    monkeypatch.setattr(early_stop, "CHECK_SECONDS", 0.0)
    sweep_id = sweep_with_peers(db, [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    job_id = running_job(db, sweep_id=sweep_id)
    with db.read() as session:
        hooks = make_hooks(
            session,
            session.get(Job, job_id),
            db=db,
            worker_id=WORKER,
            attempt=None,
            checkpoint_seconds=60,
            time_limit_seconds=60,
            parent_pid=None,
            stopping=threading.Event(),
        )
    assert isinstance(hooks.rules[-1], MedianRule)
    hooks.report(0, {"loss": 1.5}, 0.5)  # better than the median, 2.0
    flush(db, hooks)
    assert hooks.stopped is None
    hooks.report(1, {"loss": 4.5}, 0.6)  # mean 3.0, worse
    flush(db, hooks)
    assert isinstance(hooks.stopped, EarlyStopped)
    assert hooks.stopped.status == JobStatus.CANCELLED
    assert hooks.stopped.error == (
        f"{EARLY_STOPPED} at step 1 (median rule): the mean loss so far, 3, is worse than the "
        "median 2 of 3 other runs"
    )


def test_the_median_rule_reads_which_way_is_better_from_the_task(db: Database) -> None:
    sweep_id = sweep_with_peers(db, [[0.5], [0.6]])
    job_id = running_job(db, sweep_id=sweep_id)
    rule = MedianRule(job_id, sweep_id, {**RULE, "metric": "accuracy"}, higher_is_better=True)
    rule.observe(0, {"accuracy": 0.9}, 0.5)
    with db.read() as session:
        assert rule._check(session) is None  # no peer logged accuracy: too few to judge
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert early_stop.early_stop_rule(session, job).higher_is_better is False  # loss


def test_time_spent_waiting_out_an_outage_does_not_count_against_the_time_limit() -> None:
    waited = [0.0]
    limit = TimeLimit(10.0, paused=lambda: waited[0])
    later = time.monotonic() + 15.0  # 15 s on, 10 s of them waiting for the database
    waited[0] = 10.0
    assert limit.at_step(later) is None
    waited[0] = 4.0
    assert isinstance(limit.at_step(later), TimeLimitReached)
