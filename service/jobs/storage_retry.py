"""What a worker does while the database cannot be written (disk full, read-only): it never
dies of it. A job whose state could not be saved goes back to the queue, without spending an
attempt, as soon as that write succeeds; until then the worker retries it at a bounded rate and
claims nothing else. Claims that fail wait the same way. The log says what is wrong once, then
at most every minute, and when it is over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from rnnlab.service.errors import StorageUnavailable
from rnnlab.service.jobs.processes import parent_gone
from rnnlab.service.jobs.queue import claim_next_job
from rnnlab.service.store.db import Database
from rnnlab.service.store.faults import FaultLog

log = logging.getLogger(__name__)

# How often a refused write is tried again: storage that comes back is used within this long,
# and a retry costs one small transaction.
RETRY_SECONDS = 0.5


def retry_until_written(
    write: Callable[[], None],
    fault: StorageUnavailable,
    faults: FaultLog,
    stopping: threading.Event,
    parent_pid: int | None = None,
) -> bool:
    """Call `write` every RETRY_SECONDS until it no longer meets a storage fault: True once it
    succeeded, False when the worker is told to stop (or its service is gone) first."""
    faults.failed(fault)
    while not stopping.wait(RETRY_SECONDS):
        if parent_gone(parent_pid):
            return False
        try:
            write()
        except StorageUnavailable as again:
            faults.failed(again)
            continue
        faults.succeeded()
        return True
    return False


def claim_or_wait(
    db: Database, worker_id: str, faults: FaultLog, stopping: threading.Event
) -> int | None:
    """The next queued job for this worker, or None; a claim refused by storage waits
    RETRY_SECONDS (or until the worker stops) and answers None."""
    try:
        job_id = claim_next_job(db, worker_id)
    except StorageUnavailable as fault:
        faults.failed(fault)
        stopping.wait(RETRY_SECONDS)
        return None
    faults.succeeded()
    return job_id
