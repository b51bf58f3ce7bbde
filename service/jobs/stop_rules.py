"""Why a running job stops before its end: one small rule for each reason, asked in turn.

Kept apart as Dramatiq keeps its time limit, retries and shutdown as separate middleware: a
client's cancel, the time limit, the service shutting down, the service that started the worker
gone, and a sweep's early stopping (jobs/early_stop.py). A rule answers with the JobStopped
that says how the job ends (its status and the error a client reads), or None to let it run;
a rule raises JobLost when the job is no longer this worker's to end.

The hooks (jobs/hooks.py) ask the rules at two moments, in the order they were given, and the
first that answers decides: `at_step`, every step of the loop, so without any I/O; and
`at_flush`, inside the transaction that writes the buffered metrics, where a read of the
database costs no transaction of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.models.training import TrainingStopped
from rnnlab.service.jobs.processes import parent_gone
from rnnlab.service.store.tables import Job, JobStatus


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


class ShuttingDown(JobStopped):
    """The service stops: the job checkpointed and goes back to the queue, to resume at the
    next start without using up an attempt."""


class StopRule:
    """One reason to stop a job; every method answers "no reason" here, a rule overrides the
    moments it cares about."""

    def observe(self, step: int, metrics: Mapping[str, float], progress: float) -> None:
        """What the loop reported at `step`; `progress` is the job's, in 0..1."""

    def at_step(self, now: float) -> JobStopped | None:
        """Asked every step, `now` being time.monotonic(): no I/O here."""
        return None

    def at_flush(self, session: Session) -> JobStopped | None:
        """Asked in the flush's transaction, before it writes the job's row and metrics."""
        return None

    def wants_checkpoint(self) -> bool:
        """True to have the loop checkpoint now, whatever the checkpoint interval says."""
        return False

    def checkpoint_starting(self) -> None:
        """A checkpoint is about to be written."""

    def checkpoint_saved(self) -> None:
        """That checkpoint is stored: the job resumes from it."""


class TimeLimit(StopRule):
    """RNNLAB_JOB_TIME_LIMIT_SECONDS from the moment the rule is made: the job fails. Time the
    job spent waiting out a database outage (`paused()` seconds) is the database's, not the
    job's: it does not count."""

    def __init__(self, limit_seconds: float, paused: Callable[[], float] = lambda: 0.0) -> None:
        self.limit_seconds = limit_seconds
        self.deadline = time.monotonic() + limit_seconds
        self.paused = paused

    def at_step(self, now: float) -> JobStopped | None:
        if now < self.deadline + self.paused():
            return None
        return TimeLimitReached(self.limit_seconds)


class Shutdown(StopRule):
    """The worker is asked to stop (`stopping` set): the next checkpoint_due() says yes, and
    the step after that checkpoint stops the loop, so that the job resumes from exactly there
    at the next start. A checkpoint begun before the request does not count."""

    def __init__(self, job_id: int, stopping: threading.Event) -> None:
        self.job_id = job_id
        self.stopping = stopping
        self._asked_before_checkpoint = False
        self._checkpointed_to_stop = False

    def wants_checkpoint(self) -> bool:
        return self.stopping.is_set()

    def checkpoint_starting(self) -> None:
        self._asked_before_checkpoint = self.stopping.is_set()

    def checkpoint_saved(self) -> None:
        self._checkpointed_to_stop = self._asked_before_checkpoint

    def at_step(self, now: float) -> JobStopped | None:
        if not self._checkpointed_to_stop:
            return None
        return ShuttingDown(f"job {self.job_id} handed back: the service stops")


class ParentGone(StopRule):
    """The service that started this worker is gone (`parent_pid`, None for a worker no
    service started): the job is its supervisor's no more, and a restart recovers it. Asked
    first in the flush, so that nothing is written."""

    def __init__(self, parent_pid: int | None) -> None:
        self.parent_pid = parent_pid

    def at_flush(self, session: Session) -> JobStopped | None:
        if parent_gone(self.parent_pid):
            raise JobLost("the service that started this worker is gone")
        return None


class Cancel(StopRule):
    """A client asked to cancel: the flag the flush reads back from the job's row."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id

    def at_flush(self, session: Session) -> JobStopped | None:
        if session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
            return JobCancelled(f"job {self.job_id} was cancelled")
        return None
