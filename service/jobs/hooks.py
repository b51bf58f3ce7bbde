"""The bridge between a numpy train loop and the database: metrics, progress, cancel, checkpoints.

The train loop calls `should_stop()` every step. Talking to the database every step would cost
more than a small model's step, so this class buffers metrics and only every `FLUSH_SECONDS`
writes them, the progress and a heartbeat in one transaction, and reads the cancel flag back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from numpy.typing import NDArray
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from models.training import TrainingHooks
from service.db import Database
from service.jobs import console
from service.tables import Checkpoint, Job, JobRecord, JobStatus, Metric, utcnow
from service.weights import arrays_to_npz, sha256_hex

FLUSH_SECONDS = 0.5


class JobLost(Exception):
    """This worker no longer owns the job (it was recovered elsewhere): stop without writing."""


class DatabaseHooks(TrainingHooks):
    def __init__(
        self,
        db: Database,
        job_id: int,
        worker_id: str,
        checkpoint_seconds: float,
        time_limit_seconds: float,
        parent_pid: int | None = None,
    ) -> None:
        self.db = db
        self.job_id = job_id
        self.worker_id = worker_id
        self.checkpoint_seconds = checkpoint_seconds
        self.deadline = time.monotonic() + time_limit_seconds
        self.parent_pid = parent_pid
        self.pending: list[dict[str, Any]] = []
        self.pending_records: list[dict[str, Any]] = []  # teaching records, same flush
        self.progress = 0.0
        self.stop_reason: str | None = None  # "cancelled" or "time limit"
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
        self.progress = min(max(float(progress), 0.0), 1.0)
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
        now = time.monotonic()
        if now >= self.deadline:
            self.stop_reason = "time limit"
        elif now - self._last_flush >= FLUSH_SECONDS:
            with self.db.write() as session:
                self.flush(session)
        return self.stop_reason is not None

    def checkpoint_due(self) -> bool:
        return time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds

    def save_checkpoint(self, step: int, state: dict[str, NDArray]) -> None:
        blob = arrays_to_npz(state)
        with self.db.write() as session:
            self.flush(session)
            checkpoint = session.get(Checkpoint, self.job_id)
            if checkpoint is None:
                checkpoint = Checkpoint(job_id=self.job_id)
                session.add(checkpoint)
            checkpoint.step = step
            checkpoint.state = blob
            checkpoint.sha256 = sha256_hex(blob)
            checkpoint.created_at = utcnow()
        self.saved_checkpoint = True
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
            update(Job)
            .where(
                Job.id == self.job_id,
                Job.worker_id == self.worker_id,
                Job.status == JobStatus.RUNNING,
            )
            .values(progress=self.progress, heartbeat_at=utcnow())
        )
        if owned.rowcount == 0:  # type: ignore[attr-defined]
            raise JobLost(f"job {self.job_id} is no longer owned by {self.worker_id}")
        self.write_pending(session)
        if session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
            self.stop_reason = "cancelled"
        self._last_flush = time.monotonic()
