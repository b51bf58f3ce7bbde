"""The bridge between a numpy train loop and the database: metrics, progress, stops, checkpoints.

The train loop calls `should_stop()` every step. The hooks ask their stop rules
(jobs/stop_rules.py) in turn; talking to the database every step would cost more than a small
model's step, so only every `FLUSH_SECONDS` do they write the buffered metrics
(jobs/metric_buffer.py), the progress and a heartbeat in one transaction, fenced by worker and
attempt, and ask the rules that read the database there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from numpy.typing import NDArray
from sqlalchemy.orm import Session

from rnnlab.models.training import TrainingHooks
from rnnlab.service.jobs import console
from rnnlab.service.jobs.checkpoints import save_checkpoint
from rnnlab.service.jobs.early_stop import early_stop_rule
from rnnlab.service.jobs.metric_buffer import MetricBuffer
from rnnlab.service.jobs.queue import update_held_job
from rnnlab.service.jobs.stop_rules import (
    Cancel,
    JobLost,
    JobStopped,
    ParentGone,
    Shutdown,
    StopRule,
    TimeLimit,
)
from rnnlab.service.jobs.storage_retry import StorageWait
from rnnlab.service.store.blobs import arrays_to_npz
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, utcnow

FLUSH_SECONDS = 0.5
T = TypeVar("T")


def _at_once(action: Callable[[], T]) -> T:
    return action()


class DatabaseHooks(TrainingHooks):
    def __init__(
        self,
        db: Database,
        job_id: int,
        worker_id: str,
        checkpoint_seconds: float,
        rules: Sequence[StopRule] = (),
        progress: float = 0.0,
        attempt: int | None = None,
        wait: Callable[[Callable[[], Any]], Any] = _at_once,
    ) -> None:
        self.db = db
        # Runs each write of the loop (a flush, a checkpoint) until storage takes it: the loop
        # waits out an outage at the step it reached (jobs/storage_retry.py).
        self.wait = wait
        self.job_id = job_id
        self.worker_id = worker_id
        self.attempt = attempt  # the claim this run holds: every write is fenced by it
        self.checkpoint_seconds = checkpoint_seconds
        self.rules = list(rules)  # asked in this order: the first that answers decides
        # The loop calls report, should_stop and checkpoint_due every step: each asks only the
        # rules that look at that moment.
        self._observing = _overriding(self.rules, "observe")
        self._step_rules = _overriding(self.rules, "at_step")
        self._checkpoint_rules = _overriding(self.rules, "wants_checkpoint")
        self.buffer = MetricBuffer(job_id, progress)
        self.stopped: JobStopped | None = None  # why the job must stop, once it must
        self.saved_checkpoint = False  # whether this run wrote a checkpoint row
        self._last_flush = time.monotonic()
        self._last_checkpoint = time.monotonic()

    # --- TrainingHooks -------------------------------------------------------------------
    def report(self, step: int, metrics: Mapping[str, float], progress: float) -> None:
        self.buffer.report(step, metrics, progress)
        for rule in self._observing:
            rule.observe(step, metrics, self.buffer.progress)
        console.step(self.job_id, step, metrics, self.buffer.progress)

    def wants(self, kind: str) -> bool:
        return True  # whether a run records them is its config's choice (teaching_views...)

    def record(self, step: int, kind: str, payload: Mapping[str, Any]) -> None:
        self.buffer.record(step, kind, payload)

    def should_stop(self) -> bool:
        """Raises the JobStopped saying why, once the job must stop (never inside a write,
        which would roll back the metrics it flushed); False until then."""
        now = time.monotonic()
        stop = self._stop_at_step(now)
        if stop is not None:
            self.stopped = stop
        elif now - self._last_flush >= FLUSH_SECONDS:
            self.wait(self._flush_now)
        if self.stopped is not None:
            raise self.stopped
        return False

    def _stop_at_step(self, now: float) -> JobStopped | None:
        for rule in self._step_rules:
            stop = rule.at_step(now)
            if stop is not None:
                return stop
        return None

    def checkpoint_due(self) -> bool:
        for rule in self._checkpoint_rules:
            if rule.wants_checkpoint():
                return True
        return time.monotonic() - self._last_checkpoint >= self.checkpoint_seconds

    def save_checkpoint(self, step: int, state: dict[str, NDArray]) -> None:
        for rule in self.rules:
            rule.checkpoint_starting()
        blob = arrays_to_npz(state)
        self.wait(lambda: save_checkpoint(self.db, self.job_id, step, blob, in_swap=self.flush))
        self.saved_checkpoint = True
        for rule in self.rules:
            rule.checkpoint_saved()
        self._last_checkpoint = time.monotonic()

    # --- writing -------------------------------------------------------------------------
    def _flush_now(self) -> None:
        with self.db.write() as session:
            self.flush(session)

    def write_pending(self, session: Session) -> None:
        """Insert the buffered metric points and teaching records."""
        self.buffer.write(session)

    def flush(self, session: Session) -> None:
        """Ask the rules that read the database, then write buffered metrics, progress and
        heartbeat, as long as this run still holds the job."""
        stop = _first_answer(rule.at_flush(session) for rule in self.rules)
        owned = session.execute(
            update_held_job(self.job_id, self.worker_id, self.attempt).values(
                progress=self.buffer.progress, heartbeat_at=utcnow()
            )
        )
        if owned.rowcount == 0:  # type: ignore[attr-defined]
            raise JobLost(
                f"job {self.job_id} is no longer owned by {self.worker_id} (attempt {self.attempt})"
            )
        self.buffer.write(session)
        if stop is not None:
            self.stopped = stop
        self._last_flush = time.monotonic()


def _overriding(rules: list[StopRule], moment: str) -> list[StopRule]:
    """The rules that answer at `moment` (a method of StopRule they override)."""
    return [rule for rule in rules if getattr(type(rule), moment) is not getattr(StopRule, moment)]


def _first_answer(answers: Iterable[JobStopped | None]) -> JobStopped | None:
    """The first stop a rule gives (the rules after it are not asked), or None."""
    return next((answer for answer in answers if answer is not None), None)


def make_hooks(
    session: Session,
    job: Job,
    *,
    db: Database,
    worker_id: str,
    attempt: int,
    checkpoint_seconds: float,
    time_limit_seconds: float,
    parent_pid: int | None,
    stopping: threading.Event,
) -> DatabaseHooks:
    """The hooks of a claimed job with every stop rule that applies to it, in the order they
    are asked: the time limit, a shutdown, the service gone, a cancel, and the median rule
    when the job's sweep asked for early stopping."""
    wait = StorageWait(stopping, parent_pid)
    rules: list[StopRule] = [
        TimeLimit(time_limit_seconds, paused=lambda: wait.waited_seconds),
        Shutdown(job.id, stopping),
        ParentGone(parent_pid),
        Cancel(job.id),
    ]
    early = early_stop_rule(session, job)
    if early is not None:
        rules.append(early)
    return DatabaseHooks(
        db,
        job.id,
        worker_id,
        checkpoint_seconds,
        rules,
        progress=job.progress,
        attempt=attempt,
        wait=wait,
    )
