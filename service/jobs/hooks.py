"""The bridge between a numpy train loop and the database: metrics, progress, cancel, checkpoints.

The train loop calls `should_stop()` every step. Talking to the database every step would cost
more than a small model's step, so this class buffers metrics and only every `FLUSH_SECONDS`
writes them, the progress and a heartbeat in one transaction, and reads the cancel flag back.

When the worker is asked to stop (`stopping`), the next `checkpoint_due()` says yes and the
`should_stop()` after that checkpoint stops the loop (`ShuttingDown`): the job
resumes from exactly there at the next start.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from numpy.typing import NDArray
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from rnnlab.models.training import TrainingHooks, TrainingStopped
from rnnlab.service.jobs import console
from rnnlab.service.jobs.checkpoints import save_checkpoint
from rnnlab.service.jobs.queue import update_held_job
from rnnlab.service.store.blobs import arrays_to_npz
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobRecord, JobStatus, Metric, utcnow

FLUSH_SECONDS = 0.5


class JobLost(Exception):
    """This worker no longer owns the job (it was recovered elsewhere): stop without writing."""


class JobStopped(TrainingStopped):
    """Why a job stopped before its end; raised through the training loop by `should_stop`.

    Each reason says how the job ends: its status and the error a client reads.
    """

    status = JobStatus.CANCELLED
    error: str | None = None


class JobCancelled(JobStopped):
    """A client asked to cancel (POST /jobs/{id}/cancel)."""


class TimeLimitReached(JobStopped):
    status = JobStatus.FAILED

    def __init__(self, limit_seconds: float) -> None:
        self.error = (
            f"time limit: the job ran {limit_seconds:g} s (RNNLAB_JOB_TIME_LIMIT_SECONDS); "
            "lower iterations or epochs"
        )
        super().__init__(self.error)


class EarlyStopped(JobStopped):
    """Its sweep's median rule judged the run hopeless; `error` says by how much."""

    def __init__(self, detail: str) -> None:
        self.error = detail
        super().__init__(detail)


class ShuttingDown(JobStopped):
    """The service stops: the job checkpointed and goes back to the queue, to resume at the
    next start without using up an attempt."""


class DatabaseHooks(TrainingHooks):
    def __init__(
        self,
        db: Database,
        job_id: int,
        worker_id: str,
        checkpoint_seconds: float,
        time_limit_seconds: float,
        parent_pid: int | None = None,
        stopping: threading.Event | None = None,
        progress: float = 0.0,
        attempt: int | None = None,
    ) -> None:
        self.db = db
        self.job_id = job_id
        self.worker_id = worker_id
        self.attempt = attempt  # the claim this run holds: every write is fenced by it
        self.checkpoint_seconds = checkpoint_seconds
        self.time_limit_seconds = time_limit_seconds
        self.deadline = time.monotonic() + time_limit_seconds
        self.parent_pid = parent_pid
        self.stopping = stopping or threading.Event()
        self.pending: list[dict[str, Any]] = []
        # A resumed job starts from the progress it had: a resume replays steps up to where the
        # last run got to, and the job's progress must not go back to 0 meanwhile.
        self.progress = progress
        self.pending_records: list[dict[str, Any]] = []  # teaching records, same flush
        self.stopped: JobStopped | None = None  # why the job must stop, once it must
        self._checkpointed_to_stop = False
        self.saved_checkpoint = False  # whether this run wrote a checkpoint row
        self._last_flush = time.monotonic()
        self._last_checkpoint = time.monotonic()

    # --- TrainingHooks -------------------------------------------------------------------
    def report(self, step: int, metrics: Mapping[str, float], progress: float) -> None:
        now = utcnow()
        for name, value in metrics.items():
            self.pending.append(
                {
                    "job_id": self.job_id,
                    "name": name,
                    "step": step,
                    "value": float(value),
                    "timestamp": now,
                }
            )
        self.progress = max(self.progress, min(max(float(progress), 0.0), 1.0))
        console.step(self.job_id, step, metrics, self.progress)

    def wants(self, kind: str) -> bool:
        return True  # whether a run records them is its config's choice (teaching_views...)

    def record(self, step: int, kind: str, payload: Mapping[str, Any]) -> None:
        self.pending_records.append(
            {
                "job_id": self.job_id,
                "kind": kind,
                "step": step,
                "payload": dict(payload),
                "timestamp": utcnow(),
            }
        )

    def should_stop(self) -> bool:
        """Raises the JobStopped saying why, once the job must stop (never inside a write,
        which would roll back the metrics it flushed); False until then."""
        now = time.monotonic()
        if now >= self.deadline:
            self.stopped = TimeLimitReached(self.time_limit_seconds)
        elif self._checkpointed_to_stop:
            self.stopped = ShuttingDown(f"job {self.job_id} handed back: the service stops")
        elif now - self._last_flush >= FLUSH_SECONDS:
            with self.db.write() as session:
                self.flush(session)
        if self.stopped is not None:
            raise self.stopped
        return False

    def checkpoint_due(self) -> bool:
        if self.stopping.is_set():
            return True
        return time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds

    def save_checkpoint(self, step: int, state: dict[str, NDArray]) -> None:
        to_stop = self.stopping.is_set()
        blob = arrays_to_npz(state)
        save_checkpoint(self.db, self.job_id, step, blob, in_swap=self.flush)
        self.saved_checkpoint = True
        self._checkpointed_to_stop = to_stop
        self._last_checkpoint = time.monotonic()

    # --- writing -------------------------------------------------------------------------
    def write_pending(self, session: Session) -> None:
        """Insert the buffered metric points and teaching records (one transaction: a stream
        sees both or neither)."""
        if self.pending:
            session.execute(insert(Metric), self.pending)
            self.pending = []
        if self.pending_records:
            session.execute(insert(JobRecord), self.pending_records)
            self.pending_records = []

    def flush(self, session: Session) -> None:
        """Write buffered metrics, progress and heartbeat; read the cancel flag."""
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            raise JobLost("the service that started this worker is gone")
        owned = session.execute(
            update_held_job(self.job_id, self.worker_id, self.attempt).values(
                progress=self.progress, heartbeat_at=utcnow()
            )
        )
        if owned.rowcount == 0:  # type: ignore[attr-defined]
            raise JobLost(
                f"job {self.job_id} is no longer owned by {self.worker_id} (attempt {self.attempt})"
            )
        self.write_pending(session)
        if session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
            self.stopped = JobCancelled(f"job {self.job_id} was cancelled")
        self._last_flush = time.monotonic()
