"""What a job's end promises, whichever end it is (service/jobs/runner.py `run_job`, in process on
a real SQLite database): after it succeeded, failed (diverged), was cancelled or ran out of time,
straight through or resumed from a checkpoint after a shutdown,
- no checkpoint row and no checkpoint part is left (they are megabytes of no further use);
- every metric point stored before the end is still there (a resume drops only the lost run's
  points past its checkpoint; the end drops none).

Each job checkpoints at every step, so a checkpoint exists whenever the end comes. The end is
steered by a task of the test's own, binary addition whose hooks act at a chosen step (ask for a
cancel, ask the worker to stop, diverge, or outlast the time limit): no timing decides which
end a run reaches.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import func, select

from rnnlab.models.tasks import TASKS
from rnnlab.models.training import TrainingDiverged, TrainingHooks
from rnnlab.service.jobs.queue import cancel_job, claim_job
from rnnlab.service.jobs.runner import WorkerContext, run_job, set_context
from rnnlab.service.settings import Settings
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import (
    Checkpoint,
    CheckpointPart,
    Job,
    JobStatus,
    Metric,
    TrainedModel,
)

STEERED = "steered-addition"
WORKER = "test-host:1"
TIME_LIMIT_SECONDS = 2.0
HYPERPARAMS = {
    "binary_dim": 4,
    "hidden_size": 4,
    "batch_size": 4,
    "iterations": 24,
    "log_every": 1,
    "learning_rate": 1e-4,  # far from learning every sum: no early stop at full accuracy
    "seed": 5,
}
SHUTDOWN_AT = 4  # the first run of a resumed job is asked to stop there
# "cancelled late": the cancel comes after the loop's last check, while its last step runs; the
# run then ends as a cancel, without a model.
END_AT = {
    "failed": 12,
    "cancelled": 12,
    "cancelled late": HYPERPARAMS["iterations"],
    "time limit": 12,
    "succeeded": None,
}


class Steering(TrainingHooks):
    """The run's own hooks, with `on_report(step)` called after each report."""

    def __init__(self, inner: TrainingHooks, on_report: Callable[[int], None]) -> None:
        self.inner = inner
        self.on_report = on_report

    def report(self, step: int, metrics: Mapping[str, float], progress: float) -> None:
        self.inner.report(step, metrics, progress)
        self.on_report(step)

    def should_stop(self) -> bool:
        return self.inner.should_stop()

    def checkpoint_due(self) -> bool:
        return self.inner.checkpoint_due()

    def save_checkpoint(self, step: int, state: dict) -> None:
        self.inner.save_checkpoint(step, state)

    def wants(self, kind: str) -> bool:
        return self.inner.wants(kind)

    def record(self, step: int, kind: str, payload: Mapping[str, Any]) -> None:
        self.inner.record(step, kind, payload)


@dataclasses.dataclass
class Run:
    """One job's runs: what its hooks do at which step, and every metric row seen meanwhile."""

    db: Database
    job_id: int = 0
    act_at: int | None = None
    act: Callable[[], None] = lambda: None
    seen: dict[int, int] = dataclasses.field(default_factory=dict)  # metric id -> step
    checkpoint_seen: bool = False

    def on_report(self, step: int) -> None:
        with self.db.read() as session:
            rows = session.execute(
                select(Metric.id, Metric.step).where(Metric.job_id == self.job_id)
            ).all()
            checkpoints = session.scalar(
                select(func.count()).where(Checkpoint.job_id == self.job_id)
            )
        self.seen.update(dict(rows))
        self.checkpoint_seen = self.checkpoint_seen or bool(checkpoints)
        if step == self.act_at:
            self.act()


@pytest.fixture
def steered(monkeypatch: pytest.MonkeyPatch, migrated_db: Database) -> Iterator[Run]:
    run = Run(migrated_db)
    addition = TASKS["binary_addition"]

    def train(config: Any, corpus: Any, hooks: TrainingHooks, resume: Any) -> Any:
        return addition.train(config, corpus, Steering(hooks, run.on_report), resume)

    monkeypatch.setitem(TASKS, STEERED, dataclasses.replace(addition, train=train))
    yield run


def worker_context(db: Database) -> WorkerContext:
    """This process as the worker: a checkpoint at every step, a short time limit."""
    settings = Settings(checkpoint_seconds=1e-6, job_time_limit_seconds=TIME_LIMIT_SECONDS)
    return WorkerContext(db, settings, WORKER)


def claim_and_run(context: WorkerContext, job_id: int) -> None:
    set_context(context)
    attempt = claim_job(context.db, job_id, WORKER)
    assert attempt is not None
    run_job(job_id, attempt)


def stored(db: Database, job_id: int) -> tuple[dict[int, int], int, Job]:
    """(metric id -> step, checkpoint rows and parts, the job)."""
    with db.read() as session:
        metrics = dict(
            session.execute(select(Metric.id, Metric.step).where(Metric.job_id == job_id)).all()
        )
        left = session.scalar(select(func.count()).where(Checkpoint.job_id == job_id)) or 0
        left += session.scalar(select(func.count()).where(CheckpointPart.job_id == job_id)) or 0
        job = session.get(Job, job_id)
        assert job is not None
        return metrics, left, job


def ending(run: Run, end: str) -> Callable[[], None]:
    def act() -> None:
        if end.startswith("cancelled"):
            cancel_job(run.db, run.job_id)  # as POST /jobs/{id}/cancel does
        elif end == "failed":
            raise TrainingDiverged("diverged on purpose")
        elif end == "time limit":
            time.sleep(TIME_LIMIT_SECONDS + 0.2)

    return act


EXPECTED = {
    "succeeded": (JobStatus.SUCCEEDED, None),
    "failed": (JobStatus.FAILED, "diverged on purpose"),
    "cancelled": (JobStatus.CANCELLED, None),
    "cancelled late": (JobStatus.CANCELLED, None),
    "time limit": (JobStatus.FAILED, "time limit"),
}


@pytest.mark.parametrize("resumed", [False, True], ids=["straight", "resumed"])
@pytest.mark.parametrize("end", list(EXPECTED))
def test_an_ended_job_keeps_its_metrics_and_no_checkpoint(
    steered: Run, migrated_db: Database, end: str, resumed: bool
) -> None:
    with migrated_db.write() as session:
        job = Job(task=STEERED, hyperparams=HYPERPARAMS)
        session.add(job)
        session.flush()
        steered.job_id = job.id
    kept_from_lost_run: dict[int, int] = {}
    if resumed:
        first = worker_context(migrated_db)
        steered.act_at = SHUTDOWN_AT
        steered.act = first.stopping.set  # the service stops: checkpoint, back to the queue
        claim_and_run(first, steered.job_id)
        metrics, left, job = stored(migrated_db, steered.job_id)
        assert job.status == JobStatus.QUEUED and left > 0, "handed back with its checkpoint"
        with migrated_db.read() as session:
            checkpoint_step = session.scalar(
                select(Checkpoint.step).where(Checkpoint.job_id == steered.job_id)
            )
        kept_from_lost_run = {i: s for i, s in metrics.items() if s <= checkpoint_step}
        assert kept_from_lost_run
        steered.seen.clear()
        steered.checkpoint_seen = False

    steered.act_at = END_AT[end]
    steered.act = ending(steered, end)
    claim_and_run(worker_context(migrated_db), steered.job_id)

    metrics, left, job = stored(migrated_db, steered.job_id)
    status, error = EXPECTED[end]
    assert job.status == status, job.error
    assert error is None or error in (job.error or "")
    assert steered.checkpoint_seen, "the run had a checkpoint before its end"
    assert left == 0, f"{end}: {left} checkpoint rows and parts outlived the job"
    lost = {i: s for i, s in {**kept_from_lost_run, **steered.seen}.items() if i not in metrics}
    assert lost == {}, f"{end}: metric points stored before the end were dropped"
    with migrated_db.read() as session:
        models = session.scalar(select(func.count()).where(TrainedModel.job_id == job.id))
    assert models == (1 if end == "succeeded" else 0)
    if end == "succeeded":
        assert max(metrics.values()) == HYPERPARAMS["iterations"]
