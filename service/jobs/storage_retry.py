"""What a worker does while the database cannot be used (it does not answer, its disk is full,
it is read-only): it never dies of it, and its job does not either. Each read or write of a
running job that storage refuses is tried again, with backoff, until it goes through: training
waits at that step, holding its job, its buffered metrics and its place, and goes on from there
when storage is back. Only a worker told to stop (or whose service is gone) gives up waiting;
the job then goes back to the queue without spending an attempt if a write can still say so
(else the next start requeues it). STATUS (rnnlab.service.store.faults) says in the log when an
outage starts and when it ends; the loops here retry in silence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from rnnlab.service.errors import StorageUnavailable
from rnnlab.service.jobs.processes import parent_gone

T = TypeVar("T")

# How often the supervisor's probe, or an idle worker's claim, tries a refused write again:
# storage that comes back is used within this long, and a retry costs one small transaction.
RETRY_SECONDS = 0.5
# A job's own retries start fast (a killed session is over at once) and slow down to this: an
# outage of a minute costs a few dozen connection attempts, and storage that comes back is used
# within this long.
FIRST_RETRY_SECONDS = 0.1
LONGEST_RETRY_SECONDS = 2.0


class StorageWait:
    """Runs a piece of a job's storage work until storage takes it; see the module's doc."""

    def __init__(self, stopping: threading.Event, parent_pid: int | None = None) -> None:
        self.stopping = stopping
        self.parent_pid = parent_pid
        self.waited_seconds = 0.0  # spent waiting: the job's time limit does not count it

    def __call__(self, action: Callable[[], T]) -> T:
        """`action()`'s result once it meets no storage fault; the last fault, raised, when
        the worker stops (or its service is gone) first."""
        delay = FIRST_RETRY_SECONDS
        first_refused: float | None = None
        try:
            while True:
                try:
                    return action()
                except StorageUnavailable:
                    if first_refused is None:
                        first_refused = time.monotonic()
                    if self.stopping.wait(delay) or parent_gone(self.parent_pid):
                        raise
                    delay = min(delay * 2, LONGEST_RETRY_SECONDS)
        finally:
            if first_refused is not None:
                self.waited_seconds += time.monotonic() - first_refused
