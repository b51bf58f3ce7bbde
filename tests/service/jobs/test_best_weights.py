"""The best validation point's weights survive a stop and a resume (service/jobs/runner.py
`run_job`, in process on a real SQLite database): a job with early stopping is handed back
(checkpoint, back to the queue) after its best point and before its stop, then resumed; its
model is, bit for bit, that of the same job run straight, with the same best step."""

from __future__ import annotations

from sqlalchemy import select

from rnnlab.service.jobs.runner import WorkerContext
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Checkpoint, Job, JobStatus, TrainedModel
from tests.service.jobs.test_end_promises import (  # noqa: F401  (steered is a fixture)
    HYPERPARAMS,
    STEERED,
    Run,
    claim_and_run,
    steered,
    worker_context,
)

# min_delta 10: no validation beats the first (step 10), and the second (step 20) stops the run
EARLY_STOPPING = {
    **HYPERPARAMS,
    "iterations": 100,
    "validation_every": 10,
    "early_stopping": {"patience": 1, "min_delta": 10.0},
}
HAND_BACK_AT = 15


def new_job(db: Database) -> int:
    with db.write() as session:
        job = Job(task=STEERED, hyperparams=EARLY_STOPPING)
        session.add(job)
        session.flush()
        return job.id


def model_of(db: Database, job_id: int) -> tuple[str, dict]:
    with db.read() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == JobStatus.SUCCEEDED, job and job.error
        model = session.scalar(select(TrainedModel).where(TrainedModel.job_id == job_id))
        assert model is not None
        return model.sha256, dict(model.metrics)


def test_the_best_weights_survive_a_hand_back_bit_for_bit(
    steered: Run,  # noqa: F811
    migrated_db: Database,
) -> None:
    steered.job_id = new_job(migrated_db)
    claim_and_run(worker_context(migrated_db), steered.job_id)
    straight = model_of(migrated_db, steered.job_id)
    assert straight[1]["best_step"] == 10 and straight[1]["steps"] == 20

    steered.job_id = new_job(migrated_db)
    first: WorkerContext = worker_context(migrated_db)
    steered.act_at = HAND_BACK_AT
    steered.act = first.stopping.set  # the service stops: checkpoint, back to the queue
    claim_and_run(first, steered.job_id)
    with migrated_db.read() as session:
        job = session.get(Job, steered.job_id)
        assert job is not None and job.status == JobStatus.QUEUED
        step = session.scalar(select(Checkpoint.step).where(Checkpoint.job_id == job.id))
    assert step is not None and 10 < step < 20  # after the best point, before the stop

    steered.act_at = None
    claim_and_run(worker_context(migrated_db), steered.job_id)
    assert model_of(migrated_db, steered.job_id) == straight
