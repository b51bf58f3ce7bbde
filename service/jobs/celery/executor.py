"""RNNLAB_EXECUTOR=celery, the web process's side: no training here. A queued job's id goes to
the broker; `rnnlab worker` processes (service/jobs/celery/worker.py) claim and run it.

The database is the truth, the broker only a way to wake a worker: one thread here sends the
ids of new jobs (so that a slow or absent broker never holds a request), and every
`SWEEP_SECONDS` it
- puts back in the queue the running jobs whose heartbeat went silent (their worker died on a
  machine this process cannot see), or fails them after RNNLAB_MAX_ATTEMPTS;
- sends again the ids of jobs still queued RNNLAB_RESEND_AFTER_SECONDS after they were sent
  (a broker restart or outage can lose messages), waiting twice as long before each new copy,
  since a job may just be waiting behind others. A copy too many costs a worker one failed claim.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta

from sqlalchemy import select

from rnnlab.service.errors import StorageUnavailable
from rnnlab.service.jobs.celery.app import RUN_JOB, make_celery
from rnnlab.service.jobs.queue import recover_lost_jobs
from rnnlab.service.settings import Settings
from rnnlab.service.store.db import Database
from rnnlab.service.store.faults import STATUS
from rnnlab.service.store.probe import probe_write
from rnnlab.service.store.tables import Job, JobStatus

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
BROKER_CHECK_SECONDS = 5.0
MAX_RESEND_BACKOFF = 16  # at most this many times RNNLAB_RESEND_AFTER_SECONDS between copies
# A publish waits for the broker this long at most; then the sweep tries again later.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


class ExecutorMisconfigured(RuntimeError):
    """The settings name an executor they cannot run (the message says what to set)."""


class CeleryExecutor:
    def __init__(self, settings: Settings, db: Database) -> None:
        problem = settings.executor_problem()
        if problem is not None:
            raise ExecutorMisconfigured(problem)
        self.settings = settings
        self.db = db
        self.restarts = 0  # workers live elsewhere: Celery restarts them, not this process
        self.app = make_celery(settings)
        self.app.conf.broker_connection_timeout = 2.0
        self._outbox: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sent: dict[int, tuple[float, float]] = {}  # id -> (when sent, wait before next)
        self._broker_problem: str | None = "broker not reached yet"
        self._thread = threading.Thread(target=self._run, name="rnnlab-celery", daemon=True)

    # --- Executor --------------------------------------------------------------------------
    def start(self) -> None:
        self._check_broker()
        self._thread.start()  # its first sweep sends the jobs queued before this start

    def submitted(self, job_ids: Sequence[int]) -> None:
        with self._lock:
            self._outbox.update(job_ids)
        self._wake.set()

    def not_ready(self) -> str | None:
        return self._broker_problem

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=10)
        self.app.pool.force_close_all()

    # --- the sender's thread ---------------------------------------------------------------
    def _run(self) -> None:
        next_sweep = next_check = 0.0
        while not self._stopping.is_set():
            try:
                with self._lock:
                    fresh, self._outbox = self._outbox, set()
                self._send(fresh)
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + BROKER_CHECK_SECONDS
                    self._check_broker()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + SWEEP_SECONDS
                    self._sweep()
            except StorageUnavailable:  # an outage: faults.STATUS logs it, once
                pass
            except Exception:  # the sender must outlive any one failure
                log.exception("celery executor: sweep failed")
            self._wake.wait(SWEEP_SECONDS)
            self._wake.clear()

    def _sweep(self) -> None:
        timeout = self.settings.heartbeat_timeout_seconds
        if STATUS.fault() is not None:
            probe_write(self.db)  # refused while the fault lasts; its success ends it
        lost: list[int] = []
        # After an outage every running job's heartbeat is old: its worker, which waited the
        # outage out, is given a heartbeat's timeout to write one before it counts as silent.
        if STATUS.settled(timeout):
            lost = recover_lost_jobs(
                self.db, None, self.settings.max_attempts, timedelta(seconds=timeout)
            )
        with self.db.read() as session:
            queued = set(session.scalars(select(Job.id).where(Job.status == JobStatus.QUEUED)))
        for job_id in set(self._sent) - queued:
            del self._sent[job_id]  # claimed or finished: nothing more to send
        now = time.monotonic()
        due = [job_id for job_id in queued if self._resend_due(job_id, now)]
        self._send(sorted({*due, *(job_id for job_id in lost if job_id in queued)}))

    def _resend_due(self, job_id: int, now: float) -> bool:
        if job_id not in self._sent:
            return True  # queued by an earlier start, or another process: never sent by this one
        sent_at, wait = self._sent[job_id]
        return now - sent_at >= wait

    def _send(self, job_ids: Iterable[int]) -> None:
        for job_id in job_ids:
            try:
                self.app.send_task(RUN_JOB, args=[job_id], retry=True, retry_policy=PUBLISH_RETRY)
            except Exception as error:  # kombu raises its transport's own errors
                self._broker_down(error)
                return  # the sweep sends the rest once the broker is back
            _, wait = self._sent.get(job_id, (0.0, self.settings.resend_after_seconds / 2))
            backoff = min(2 * wait, MAX_RESEND_BACKOFF * self.settings.resend_after_seconds)
            self._sent[job_id] = (time.monotonic(), backoff)
            self._broker_problem = None

    def _check_broker(self) -> None:
        try:
            with self.app.connection_for_write() as connection:
                connection.connect()
        except Exception as error:
            self._broker_down(error)
        else:
            self._broker_problem = None

    def _broker_down(self, error: Exception) -> None:
        if self._broker_problem is None:
            log.warning(
                "celery executor: broker unreachable (%s): jobs wait in the database", error
            )
        self._broker_problem = (
            f"broker unreachable ({type(error).__name__}): check RNNLAB_BROKER_URL; "
            "jobs are kept and sent once it answers"
        )
