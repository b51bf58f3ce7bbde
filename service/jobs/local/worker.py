"""A worker process: claims queued jobs from the database and runs them, one at a time.

This module is the spawn target, so it imports numpy (through the runner) only after it has
set the thread counts: OpenBLAS reads its own once, at import.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any

from rnnlab.service.jobs.local.wake import WakeUp
from rnnlab.service.jobs.processes import parent_gone

IDLE_POLL_SECONDS = 2.0  # a missed wake-up costs at most this long
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def worker_main(
    settings_json: str, wake: WakeUp, parent_pid: int, ready: Connection, pulse: Any = None
) -> None:
    stopping = _stop_on_signals()
    from rnnlab.service.settings import Settings

    settings = Settings.model_validate_json(settings_json)
    # The model's own thread pool (row shards of the output layer) uses the worker's threads;
    # BLAS stays single-threaded under it, as two pools on the same cores oversubscribe them.
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    with contextlib.suppress(OSError):
        os.nice(settings.worker_nice)  # requests preempt training, not the other way round
    _die_with_parent()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s worker[%(process)d] %(levelname)s %(name)s: %(message)s",
    )

    from rnnlab.models.parallel import set_train_threads
    from rnnlab.service.errors import StorageUnavailable
    from rnnlab.service.jobs.heartbeat import Pulse, beat_seconds
    from rnnlab.service.jobs.queue import claim_next_job
    from rnnlab.service.jobs.runner import WorkerContext, run_job, set_context, worker_identity
    from rnnlab.service.jobs.storage_retry import RETRY_SECONDS
    from rnnlab.service.store.db import Database

    set_train_threads(settings.worker_threads)  # an argument, not an environment variable

    db = Database.connect(settings.resolved_database_url)
    worker_id = worker_identity()
    set_context(WorkerContext(db, settings, worker_id, parent_pid, stopping))
    beat = beat_seconds(settings.heartbeat_timeout_seconds)
    if pulse is not None:
        Pulse(pulse, beat)  # the supervisor kills this process once it stops beating
    ready.send(os.getpid())  # /readyz counts this worker from now on
    ready.close()
    while not parent_gone(parent_pid) and not stopping.is_set():
        try:
            job_id = claim_next_job(db, worker_id)
        except StorageUnavailable:  # the log says so once (faults.STATUS); try again soon
            stopping.wait(RETRY_SECONDS)
            continue
        if job_id is not None:
            run_job(job_id)
        else:
            wake.wait(IDLE_POLL_SECONDS)
    db.dispose()


def _stop_on_signals() -> threading.Event:
    """SIGINT (Ctrl+C reaches the whole process group) and SIGTERM (the service stopping) set
    an event: a running job checkpoints and goes back to the queue, then the worker exits 0.
    The service spawns workers with both signals blocked, so that one arriving while this
    process imports is held until now instead of raising KeyboardInterrupt mid-import."""
    stopping = threading.Event()
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, lambda _signum, _frame: stopping.set())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return stopping


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the service dies (kill -9 included)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the loops' parent_gone checks still stop an orphan
