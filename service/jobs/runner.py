"""What a job does, start to finish. `run_job(job_id)` reads everything else from the database,
so any executor (today the local worker processes) can run the very same function."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import select

from rnnlab.models.training import TrainingDiverged, TrainResult
from rnnlab.service.errors import ModelNotFound, StorageUnavailable
from rnnlab.service.jobs import console, train
from rnnlab.service.jobs.checkpoints import delete_checkpoint, read_checkpoint
from rnnlab.service.jobs.heartbeat import beat_seconds, job_heartbeat
from rnnlab.service.jobs.hooks import DatabaseHooks, make_hooks
from rnnlab.service.jobs.queue import discard_metrics_after, update_held_job
from rnnlab.service.jobs.stop_rules import JobLost, JobStopped, ShuttingDown
from rnnlab.service.jobs.storage_retry import StorageWait
from rnnlab.service.settings import Settings
from rnnlab.service.store.blobs import CorruptBlob, arrays_to_npz, npz_to_arrays, sha256_hex
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobStatus, Metric, TrainedModel, utcnow

log = logging.getLogger(__name__)

OUT_OF_MEMORY = (
    "out of memory: lower batch_size, hidden_size or the vocabulary (raise unknown_threshold)"
)


@dataclass
class WorkerContext:
    """What a worker process holds for the jobs it runs."""

    db: Database
    settings: Settings
    worker_id: str
    parent_pid: int | None = None
    stopping: threading.Event = field(default_factory=threading.Event)  # set: the worker stops


_context: WorkerContext | None = None


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def set_context(context: WorkerContext) -> None:
    global _context
    _context = context


def current_context() -> WorkerContext:
    if _context is None:
        raise RuntimeError("no worker context in this process: call set_context() first")
    return _context


def run_job(job_id: int, attempt: int | None = None) -> None:
    """Train a claimed job and record how it ended; never raises for a job's own failure, nor
    for storage that cannot be used: each read and write it refuses is tried again until it
    goes through (jobs/storage_retry.py), and the job goes on. Only a worker stopping during
    an outage gives the job back to the queue (no attempt spent), to resume from its last
    checkpoint.

    `attempt` is the one this worker claimed (default: whichever the row holds for it); every
    write of the run is fenced by it, so a run that lost the job changes nothing."""
    context = current_context()
    wait = StorageWait(context.stopping, context.parent_pid)
    try:
        held = wait(partial(_held_attempt, context, job_id, attempt))
    except StorageUnavailable:  # stopping during an outage: the job is still `running`, and
        return  # the supervisor hands it back at stop (or the next start does)
    if held is None:
        return
    attempt = held
    beat = beat_seconds(context.settings.heartbeat_timeout_seconds)
    # A thread beats for the job however long one training step takes.
    with job_heartbeat(context.db, job_id, context.worker_id, attempt, beat):
        try:
            _run_claimed(context, job_id, attempt, wait)
        except StorageUnavailable:
            _hand_back_if_it_can(context, job_id, attempt)


def _held_attempt(context: WorkerContext, job_id: int, attempt: int | None) -> int | None:
    """The attempt this worker holds the job by (`attempt`, when given, must be it), or None
    when the job is not running on this worker: a duplicate delivery, a job taken back."""
    with context.db.read() as session:
        job = session.get(Job, job_id)
        if job is None or job.status != JobStatus.RUNNING or job.worker_id != context.worker_id:
            return None
        if attempt is not None and job.attempt != attempt:
            return None
        return job.attempt


def _hand_back_if_it_can(context: WorkerContext, job_id: int, attempt: int) -> None:
    """The worker stopped while storage refused the job's work: one try at handing it back
    (no attempt spent); else it stays `running`, and the supervisor's release at stop or the
    next start's recovery hands it back."""
    try:
        _hand_back(context, job_id, attempt)
    except StorageUnavailable:
        log.warning(
            "job %s: stopping before it could be handed back; a restart recovers it", job_id
        )


@dataclass
class Claimed:
    """What a run reads of its job before it trains."""

    task: str
    hyperparams: dict
    fresh: bool
    hooks: DatabaseHooks
    origin: tuple[int | None, str] | None  # the model it continues, and its optimizer's source


def _run_claimed(context: WorkerContext, job_id: int, attempt: int, wait: StorageWait) -> None:
    claimed = wait(partial(_read_claimed, context, job_id, attempt))
    if claimed is None:
        return  # taken back meanwhile
    task, hyperparams, hooks = claimed.task, claimed.hyperparams, claimed.hooks
    console.started(job_id, task, hyperparams, resumed=not claimed.fresh)
    finish = partial(_finish, context, job_id, attempt)
    began = time.monotonic()
    try:
        resume = None if claimed.fresh else wait(partial(_load_checkpoint, context.db, job_id))
        result = train.train(context.db, task, hyperparams, hooks, resume, wait, claimed.origin)
    except ShuttingDown:
        _hand_back(context, job_id, attempt)
    except JobStopped as stop:  # cancelled, time limit, or stopped early by its sweep's rule
        wait(partial(finish, stop.status, stop.error))
    except TrainingDiverged as error:
        wait(partial(finish, JobStatus.FAILED, str(error), hooks))
    except JobLost as error:
        log.warning("job %s: %s; stopping without writing", job_id, error)
    except MemoryError:
        wait(partial(finish, JobStatus.FAILED, OUT_OF_MEMORY))
    except ModelNotFound as error:  # the model it continues is gone
        wait(partial(finish, JobStatus.FAILED, error.detail))
    except StorageUnavailable:
        raise  # the worker stops during an outage: run_job hands the job back if it can
    except Exception as error:  # the worker must always finish the job's row
        log.exception("job %s failed", job_id)
        wait(partial(finish, JobStatus.FAILED, f"internal error: {type(error).__name__}"))
    else:
        publish = partial(_publish, context, job_id, attempt, task, hyperparams, result, hooks)
        wait(partial(publish, had_checkpoint=not claimed.fresh))
    finally:
        console.tell_end(context.db, job_id, time.monotonic() - began)


def _read_claimed(context: WorkerContext, job_id: int, attempt: int) -> Claimed | None:
    with context.db.read() as session:
        job = session.get(Job, job_id)
        if job is None or job.attempt != attempt or job.worker_id != context.worker_id:
            return None
        task, hyperparams = job.task, dict(job.hyperparams)
        origin = None if job.optimizer_state is None else (job.parent_model_id, job.optimizer_state)
        # A job that never ran (no checkpoint, no metric; a clean shutdown can hand a started
        # job back with its attempt count unchanged) has nothing to restore or clean up:
        # skipping _load_checkpoint saves a write transaction, and a wait for the write lock.
        fresh = (
            job.checkpoint is None
            and session.scalar(select(Metric.id).where(Metric.job_id == job_id).limit(1)) is None
        )

        hooks = make_hooks(
            session,
            job,
            db=context.db,
            worker_id=context.worker_id,
            attempt=attempt,
            checkpoint_seconds=context.settings.checkpoint_seconds,
            time_limit_seconds=context.settings.job_time_limit_seconds,
            parent_pid=context.parent_pid,
            stopping=context.stopping,
        )
    return Claimed(task, hyperparams, fresh, hooks, origin)


def _load_checkpoint(db: Database, job_id: int) -> dict | None:
    """The last checkpoint of a resumed job, after dropping metrics logged past it.

    The blob (up to hundreds of MB) is read and decoded outside the write transaction: only
    this worker owns the job, so nothing changes it meanwhile, and the write lock is held
    for the deletion alone.
    """
    stored = read_checkpoint(db, job_id)
    state, step = None, -1  # a retry without a (readable) checkpoint starts over
    if stored is not None:
        try:
            state, step = npz_to_arrays(stored[1], stored[2]), stored[0]
        except CorruptBlob:
            log.warning("job %s: checkpoint unreadable; starting over", job_id)
    with db.write() as session:
        discard_metrics_after(session, job_id, step)
    return state


def _publish(
    context: WorkerContext,
    job_id: int,
    attempt: int,
    task: str,
    hyperparams: dict,
    result: TrainResult,
    hooks: DatabaseHooks,
    had_checkpoint: bool = True,
) -> None:
    """Store the weights, the last metrics and the job's success in one transaction."""
    blob = arrays_to_npz(result.weights)
    with context.db.write() as session:
        if session.scalar(select(Job.cancel_requested).where(Job.id == job_id)):
            # Cancelled while its last steps ran: no model, as for any cancelled job.
            cancelled = session.execute(
                update_held_job(job_id, context.worker_id, attempt).values(
                    status=JobStatus.CANCELLED, finished_at=utcnow()
                )
            )
            if cancelled.rowcount:  # type: ignore[attr-defined]  # else its new owner keeps it
                delete_checkpoint(session, job_id)
            return
        now = utcnow()
        outcome = session.execute(
            update_held_job(job_id, context.worker_id, attempt).values(
                status=JobStatus.SUCCEEDED, progress=1.0, finished_at=now, heartbeat_at=now
            )
        )
        if outcome.rowcount == 0:  # type: ignore[attr-defined]
            log.warning("job %s was taken from this worker; its result is dropped", job_id)
            return
        hooks.write_pending(session)
        session.add(
            TrainedModel(
                job_id=job_id,
                task=task,
                hyperparams=hyperparams,
                metrics=result.metrics,
                corpus_id=hyperparams.get("corpus_id"),
                weights=blob,
                sha256=sha256_hex(blob),
                size_bytes=len(blob),
                parent_model_id=session.scalar(select(Job.parent_model_id).where(Job.id == job_id)),
            )
        )
        if had_checkpoint or hooks.saved_checkpoint:  # else there is no row to delete
            delete_checkpoint(session, job_id)


def _hand_back(context: WorkerContext, job_id: int, attempt: int) -> None:
    """The worker is stopping and the job has just checkpointed: back to the queue, without
    spending an attempt; the next worker to claim it resumes from that checkpoint."""
    with context.db.write() as session:
        session.execute(
            update_held_job(job_id, context.worker_id, attempt).values(
                status=JobStatus.QUEUED, worker_id=None, attempt=Job.attempt - 1
            )
        )
    log.info("job %s checkpointed and went back to the queue", job_id)


def _finish(
    context: WorkerContext,
    job_id: int,
    attempt: int,
    status: str,
    error: str | None,
    hooks: DatabaseHooks | None = None,
) -> None:
    with context.db.write() as session:
        outcome = session.execute(
            update_held_job(job_id, context.worker_id, attempt).values(
                status=status, error=error, finished_at=utcnow()
            )
        )
        if outcome.rowcount == 0:  # type: ignore[attr-defined]
            return  # taken from this worker: its new owner keeps the checkpoint
        if hooks is not None:
            hooks.write_pending(session)
        delete_checkpoint(session, job_id)
