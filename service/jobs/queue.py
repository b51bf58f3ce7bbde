"""The job queue is the `jobs` table: submitting, claiming, cancelling and recovering rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Update, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from rnnlab.service.errors import JobFinished, QueueFull, job_not_found
from rnnlab.service.jobs.checkpoints import delete_checkpoint
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobRecord, JobStatus, JobTag, Metric, utcnow

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
SUBMIT_LOCK_KEY = 0x726E6E6C6162  # "rnnlab": any constant no other code locks
# Why a running job lost its worker: each says what was seen, no more.
WORKER_DIED = "the process running it died"
WORKER_UNRESPONSIVE = (
    "its worker stopped answering (no heartbeat, no CPU time for {seconds:.0f} s) and was killed"
)
NO_HEARTBEAT = "no heartbeat for {seconds:.0f} s from its worker"
WORKER_LOST = "worker lost: {reason}, at attempt {attempts} of {max_attempts} (RNNLAB_MAX_ATTEMPTS)"


def check_queue_room(session: Session, max_queued: int, adding: int = 1) -> None:
    """QueueFull unless `adding` more jobs fit under RNNLAB_MAX_QUEUED_JOBS.

    Counting and inserting must not interleave between two submits: SQLite runs write
    transactions one at a time; on PostgreSQL, where two READ COMMITTED transactions would each
    count the other's job as absent, submits take a transaction-level advisory lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SUBMIT_LOCK_KEY})
    queued = session.scalar(
        select(func.count()).select_from(Job).where(Job.status == JobStatus.QUEUED)
    )
    if queued is not None and queued + adding > max_queued:
        raise QueueFull(
            f"{queued} jobs are already queued (RNNLAB_MAX_QUEUED_JOBS={max_queued}): "
            "retry when some have finished",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )


def submit_job(
    session: Session,
    task: str,
    planned: dict[str, Any],
    max_queued: int,
    name: str | None = None,
    tags: Sequence[str] = (),
) -> Job:
    """Queue a job in the session's write transaction, unless `max_queued` jobs already are.
    `planned`: the row's values its plan fixed (hyperparams, corpus_id, ...; jobs/plans.py)."""
    check_queue_room(session, max_queued)
    job = Job(task=task, name=name, **planned)
    job.tag_rows = [JobTag(tag=tag) for tag in tags]
    session.add(job)
    session.flush()
    session.refresh(job)
    return job


def claim_next_job(db: Database, worker_id: str) -> int | None:
    """Atomically move the oldest queued job to `running` for this worker; None when idle."""
    with db.write() as session:
        job_id = session.scalar(
            select(Job.id)
            .where(Job.status == JobStatus.QUEUED)
            .order_by(Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's BEGIN IMMEDIATE serialises
        )
        if job_id is None:
            return None
        now = utcnow()
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=JobStatus.RUNNING,
                worker_id=worker_id,
                attempt=Job.attempt + 1,
                started_at=func.coalesce(Job.started_at, now),
                heartbeat_at=now,
            )
        )
        return job_id


def claim_job(db: Database, job_id: int, worker_id: str) -> int | None:
    """Move this one job from `queued` to `running` for this worker (compare-and-set); its new
    attempt number, or None when it is not queued: a duplicate delivery of a job that another
    worker runs, or one that has finished, was cancelled or deleted meanwhile."""
    with db.write() as session:
        now = utcnow()
        return session.scalar(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.RUNNING,
                worker_id=worker_id,
                attempt=Job.attempt + 1,
                started_at=func.coalesce(Job.started_at, now),
                heartbeat_at=now,
            )
            .returning(Job.attempt)
        )


def update_held_job(job_id: int, worker_id: str, attempt: int | None) -> Update:
    """An update of the job that changes nothing unless this run still holds it: running, on
    the same worker, at the same attempt (a job may come back to a worker of the same name).
    Every write of a run goes through it: its rowcount says whether the run still owns the job.
    `attempt` None fences by the worker alone (a run started before attempts were claimed)."""
    return update(Job).where(
        Job.id == job_id,
        Job.worker_id == worker_id,
        Job.status == JobStatus.RUNNING,
        *([] if attempt is None else [Job.attempt == attempt]),
    )


def cancel_job(db: Database, job_id: int) -> Job:
    """A queued job ends at once; a running one is flagged and stops at its next check."""
    with db.write() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise job_not_found(job_id)
        if job.status in JobStatus.FINISHED:
            raise JobFinished(f"job {job_id} already finished ({job.status}): nothing to cancel")
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.CANCELLED
            job.finished_at = utcnow()
            delete_checkpoint(session, job_id)  # a requeued job may have one
        job.cancel_requested = True
        session.flush()
        session.refresh(job)
        return job


def recover_lost_jobs(
    db: Database,
    worker_ids: list[str] | None,
    max_attempts: int,
    stale_after: timedelta | None,
    reason: str = WORKER_DIED,
    spare: Sequence[str] = (),
) -> list[int]:
    """Requeue (or fail, after `max_attempts`) running jobs whose worker is gone.

    A job is lost when its worker is one of `worker_ids` (known dead: `reason` says how), or
    when its heartbeat is older than `stale_after` and its worker is not one of `spare` (known
    alive). A requeued job resumes from its last checkpoint; one that ends here loses it.
    """
    conditions: list[Any] = []
    if worker_ids:
        conditions.append(Job.worker_id.in_(worker_ids))
    if stale_after is not None:
        silent = Job.heartbeat_at < utcnow() - stale_after
        conditions.append(silent & Job.worker_id.not_in(spare) if spare else silent)
    if not conditions:
        return []
    with db.write() as session:
        lost = session.scalars(
            select(Job)
            .where(Job.status == JobStatus.RUNNING)
            .where(or_(*conditions))
            # Two sweepers (web processes, a worker finding its job's holder dead) on PostgreSQL:
            # each row is requeued by one of them, never by the second after a worker claimed it.
            .with_for_update(skip_locked=True, of=Job)  # not the joined model and checkpoint
        ).all()
        stale = NO_HEARTBEAT.format(seconds=stale_after.total_seconds()) if stale_after else ""
        ended: list[tuple[int, str, int, str]] = []
        for job in lost:
            known_dead = bool(worker_ids) and job.worker_id in worker_ids  # type: ignore[operator]
            why = reason if known_dead else stale
            _requeue_or_fail(session, job, max_attempts, why)
            ended.append((job.id, why, job.attempt, job.status))
    for job_id, why, attempt, status in ended:  # once committed: a refused write retries, silent
        log.warning("job %s lost its worker: %s (attempt %s); now %s", job_id, why, attempt, status)
    return [job_id for job_id, *_ in ended]


def release_jobs(db: Database, worker_ids: list[str]) -> None:
    """On a clean shutdown, hand running jobs back to the queue without spending an attempt."""
    if not worker_ids:
        return
    with db.write() as session:
        session.execute(
            update(Job)
            .where(Job.status == JobStatus.RUNNING, Job.worker_id.in_(worker_ids))
            .values(status=JobStatus.QUEUED, worker_id=None, attempt=Job.attempt - 1)
        )


def _requeue_or_fail(session: Session, job: Job, max_attempts: int, reason: str) -> None:
    job.worker_id = None
    if job.cancel_requested:
        job.status = JobStatus.CANCELLED
        job.finished_at = utcnow()
    elif job.attempt >= max_attempts:
        job.status = JobStatus.FAILED
        job.error = WORKER_LOST.format(
            reason=reason, attempts=job.attempt, max_attempts=max_attempts
        )
        job.finished_at = utcnow()
    else:
        job.status = JobStatus.QUEUED
    if job.status in JobStatus.FINISHED:
        delete_checkpoint(session, job.id)


def discard_metrics_after(session: Session, job_id: int, step: int) -> None:
    """A resumed job replays the steps after its checkpoint: drop what the lost run wrote."""
    session.execute(delete(Metric).where(Metric.job_id == job_id, Metric.step > step))
    session.execute(delete(JobRecord).where(JobRecord.job_id == job_id, JobRecord.step > step))
