"""`rnnlab worker`: a Celery worker whose processes run jobs with the very function the local
workers run (service/jobs/runner.py `run_job`), one job per process at a time.

A delivery is only a job id. It runs the job when it wins the database claim (queued ->
running, attempt + 1); every other delivery of the same job (the broker delivered it twice, or
the job was cancelled meanwhile) is acknowledged without touching anything. A delivery that
finds the job held by a dead process of this machine (SIGKILL, out of memory: Celery delivers
the message again) first puts it back in the queue, or fails it once RNNLAB_MAX_ATTEMPTS
attempts are spent, then claims it: the new attempt resumes from the job's checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

from celery import Celery, signals
from celery.exceptions import Reject
from sqlalchemy import select

from rnnlab.service.jobs.celery.app import RUN_JOB, make_celery
from rnnlab.service.jobs.processes import pid_alive
from rnnlab.service.jobs.queue import claim_job, recover_lost_jobs
from rnnlab.service.settings import Settings
from rnnlab.service.store.tables import Job, JobStatus

log = logging.getLogger("rnnlab.jobs.celery")

# What the worker's main process sends its pool processes on a warm shutdown. Not SIGTERM:
# billiard resets that one in each pool process after Celery's initialisation hook.
HAND_BACK_SIGNAL = signal.SIGUSR2
_pool: list[Any] = []  # the worker's process pool, whose processes a warm shutdown stops


def main(settings: Settings, concurrency: int) -> None:
    # BLAS is single-threaded already (`rnnlab worker` sets it before numpy is imported); the
    # worker trains at a lower priority, as a local worker does.
    with contextlib.suppress(OSError):
        os.nice(settings.worker_nice)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s worker[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    app = make_celery(settings)
    register(app)
    signals.worker_process_init.connect(_init_pool_process, weak=False)
    signals.worker_ready.connect(_remember_pool, weak=False)
    signals.worker_shutting_down.connect(_stop_running_jobs, weak=False)
    app.worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--queues={settings.broker_queue}",
            f"--hostname=rnnlab-{os.getpid()}@{socket.gethostname()}",
            "--loglevel=INFO",
            "--optimization=fair",
            "--without-mingle",
            "--without-gossip",
        ]
    )


def register(app: Celery) -> None:
    @app.task(name=RUN_JOB)  # acknowledged late, refused when its process dies: celery_app.py
    def run(job_id: int) -> None:
        if execute(job_id) == "handed back":
            # The worker stops: the job checkpointed and is queued again; the broker keeps
            # the message for the next worker.
            raise Reject("the worker stops: job handed back", requeue=True)


def execute(job_id: int) -> str:
    """Claim and run one job in this process; what became of the delivery."""
    from rnnlab.service.jobs.runner import (  # numpy: after the thread counts
        current_context,
        run_job,
    )

    context = current_context()
    attempt = claim_job(context.db, job_id, context.worker_id)
    if attempt is None and _release_from_dead_local_worker(job_id):
        attempt = claim_job(context.db, job_id, context.worker_id)
    if attempt is None:
        log.info("job %s is not queued (running elsewhere or ended): delivery dropped", job_id)
        return "dropped"
    signal.signal(HAND_BACK_SIGNAL, lambda _signum, _frame: context.stopping.set())
    try:
        run_job(job_id, attempt)
    finally:
        signal.signal(HAND_BACK_SIGNAL, signal.SIG_IGN)
    if not context.stopping.is_set():
        return "ran"
    with context.db.read() as session:
        status = session.scalar(select(Job.status).where(Job.id == job_id))
    return "handed back" if status == JobStatus.QUEUED else "ran"


def _release_from_dead_local_worker(job_id: int) -> bool:
    """Requeue (or fail, past RNNLAB_MAX_ATTEMPTS) a running job whose process was on this
    machine and is dead; whether it was one. A job held by another machine is left to the
    heartbeat sweep of the web process."""
    from rnnlab.service.jobs.runner import current_context

    context = current_context()
    with context.db.read() as session:
        job = session.get(Job, job_id)
        owner = job.worker_id if job is not None and job.status == JobStatus.RUNNING else None
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or pid_alive(int(pid)):
        return False
    assert owner is not None
    return bool(recover_lost_jobs(context.db, [owner], context.settings.max_attempts, None))


def _init_pool_process(**_: object) -> None:
    """Each pool process: its own database engine (never one inherited through fork), its
    training threads, and a stop event that HAND_BACK_SIGNAL sets while a job runs."""
    from rnnlab.models.parallel import set_train_threads
    from rnnlab.service.jobs.runner import WorkerContext, set_context, worker_identity
    from rnnlab.service.settings import get_settings
    from rnnlab.service.store.db import Database

    settings = get_settings()
    set_train_threads(settings.worker_threads)
    stopping = threading.Event()
    signal.signal(HAND_BACK_SIGNAL, signal.SIG_IGN)  # idle: nothing to hand back
    db = Database.connect(settings.resolved_database_url)
    set_context(WorkerContext(db, settings, worker_identity(), os.getppid(), stopping))


def _remember_pool(sender: Any = None, **_: object) -> None:
    """Once the worker is ready: remember its pool (a warm stop signals its processes), and
    watch the processes for one that holds a job but has stopped (service/jobs/celery/watchdog)."""
    from rnnlab.service.jobs.celery.watchdog import PoolWatchdog
    from rnnlab.service.settings import get_settings

    pool = getattr(getattr(sender, "pool", None), "_pool", None)  # billiard's Pool
    if pool is not None:
        _pool[:] = [pool]
        PoolWatchdog(get_settings(), lambda: [process.pid for process in list(pool._pool)]).start()


def _stop_running_jobs(**_: object) -> None:
    """A warm shutdown (SIGTERM, Ctrl+C) waits for running tasks: ask each pool process's job
    to checkpoint and go back to the queue instead of training to its end."""
    for pool in _pool:
        for process in list(getattr(pool, "_pool", [])):
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(process.pid, HAND_BACK_SIGNAL)
