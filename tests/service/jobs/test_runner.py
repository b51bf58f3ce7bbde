"""Resuming a job (service/jobs/runner.py `_load_checkpoint`), in process on a real database:
- the metrics the lost run logged after its checkpoint are dropped, those at and before it kept,
  whatever step the checkpoint fell on (mid-epoch too, not only at an epoch end);
- a checkpoint whose bytes are a valid npz that differs from its stored sha256 is not trusted:
  the job starts over, and then none of the lost run's metrics stay.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sqlalchemy import select

from rnnlab.service.jobs.runner import _load_checkpoint
from rnnlab.service.store.blobs import arrays_to_npz, npz_to_arrays, sha256_hex
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Checkpoint, Job, JobStatus, Metric

NAMES = ("loss", "test_loss")


def checkpoint_state(step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(step)
    return {
        "weights.W": rng.standard_normal((4, 3)).astype(np.float32),
        "step": np.array(step, dtype=np.int64),
    }


def running_job(db: Database, metric_steps: range, checkpoint_step: int | None) -> int:
    """A running job with metrics at `metric_steps` and, if given, a checkpoint at that step."""
    with db.write() as session:
        job = Job(task="next_word", hyperparams={}, status=JobStatus.RUNNING, attempt=2)
        session.add(job)
        session.flush()
        session.add_all(
            Metric(job_id=job.id, name=name, step=step, value=float(step))
            for step in metric_steps
            for name in NAMES
        )
        if checkpoint_step is not None:
            blob = arrays_to_npz(checkpoint_state(checkpoint_step))
            session.add(
                Checkpoint(job_id=job.id, step=checkpoint_step, state=blob, sha256=sha256_hex(blob))
            )
        return job.id


def steps_left(db: Database, job_id: int) -> dict[str, list[int]]:
    with db.read() as session:
        rows = session.execute(
            select(Metric.name, Metric.step).where(Metric.job_id == job_id).order_by(Metric.step)
        ).all()
    left: dict[str, list[int]] = {name: [] for name in NAMES}
    for name, step in rows:
        left[name].append(step)
    return left


# 1: the first step; 5 and 6 around an epoch end at 5 would be no different from mid-epoch: the
# discard must not depend on where the checkpoint falls.
@pytest.mark.parametrize("checkpoint_step", [1, 5, 6, 9])
def test_metrics_after_the_checkpoint_step_are_dropped_and_those_up_to_it_kept(
    migrated_db: Database, checkpoint_step: int
) -> None:
    job_id = running_job(migrated_db, range(0, 11), checkpoint_step)
    other = running_job(migrated_db, range(0, 11), None)  # another job's metrics are not touched
    state = _load_checkpoint(migrated_db, job_id)

    assert state is not None and int(state["step"]) == checkpoint_step
    np.testing.assert_array_equal(
        state["weights.W"], checkpoint_state(checkpoint_step)["weights.W"]
    )
    kept = list(range(0, checkpoint_step + 1))  # the checkpoint's own step included
    assert steps_left(migrated_db, job_id) == {name: kept for name in NAMES}
    assert steps_left(migrated_db, other) == {name: list(range(0, 11)) for name in NAMES}


def test_a_retry_without_checkpoint_drops_every_metric_of_the_lost_run(
    migrated_db: Database,
) -> None:
    job_id = running_job(migrated_db, range(0, 6), None)
    assert _load_checkpoint(migrated_db, job_id) is None
    assert steps_left(migrated_db, job_id) == {name: [] for name in NAMES}


def tamper(blob: bytes) -> bytes:
    """The same arrays with one weight changed, written as a valid npz."""
    arrays = npz_to_arrays(blob)
    arrays["weights.W"][1, 2] += np.float32(0.5)
    return arrays_to_npz(arrays)


@pytest.mark.parametrize("what", ["one weight changed", "sha256 changed"])
def test_a_checkpoint_that_differs_from_its_sha256_is_not_resumed_from(
    migrated_db: Database, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = running_job(migrated_db, range(0, 11), 6)
    with migrated_db.write() as session:
        checkpoint = session.get(Checkpoint, job_id)
        assert checkpoint is not None
        if what == "one weight changed":
            checkpoint.state = tamper(checkpoint.state)
            npz_to_arrays(checkpoint.state)  # still a readable npz: only the sha256 can tell
        else:
            checkpoint.sha256 = checkpoint.sha256[:-1] + (
                "0" if checkpoint.sha256[-1] != "0" else "1"
            )
    with caplog.at_level(logging.WARNING, logger="rnnlab.service.jobs.runner"):
        assert _load_checkpoint(migrated_db, job_id) is None  # starts over
    assert steps_left(migrated_db, job_id) == {name: [] for name in NAMES}
    # the one sign an operator gets that a job lost its progress
    assert f"job {job_id}: checkpoint unreadable; starting over" in caplog.messages
