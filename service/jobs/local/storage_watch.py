"""The supervisor's side of storage faults (a database that does not answer, a full disk, a
read-only database): it keeps spawning workers whatever the database says, puts a dead worker's
jobs back in the queue as soon as storage takes the write, and while a read or write of the web
process was refused, probes with one tiny write every RETRY_SECONDS, so that /readyz is ready
again, and the log says the outage is over, as soon as storage is back."""

from __future__ import annotations

import time

from rnnlab.service.errors import StorageUnavailable
from rnnlab.service.jobs.queue import recover_lost_jobs
from rnnlab.service.jobs.storage_retry import RETRY_SECONDS
from rnnlab.service.store.db import Database
from rnnlab.service.store.faults import STATUS
from rnnlab.service.store.probe import probe_write


class StorageWatch:
    def __init__(self, db: Database, max_attempts: int) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self._lost_owners: list[str] = []  # dead workers whose jobs are not requeued yet
        self._next_try = 0.0

    def failed(self, fault: StorageUnavailable) -> None:
        """A write of the supervisor's was refused (faults.STATUS has it, and logs it)."""
        self._next_try = time.monotonic() + RETRY_SECONDS

    def requeue_later(self, worker_id: str) -> None:
        self._lost_owners.append(worker_id)

    def requeue_lost_jobs(self) -> bool:
        """Requeue (or fail) the jobs of the dead workers noted; True when any job moved. A
        storage fault keeps them noted for the next try, RETRY_SECONDS later."""
        if not self._lost_owners or time.monotonic() < self._next_try:
            return False
        try:
            moved = recover_lost_jobs(self.db, list(self._lost_owners), self.max_attempts, None)
        except StorageUnavailable as fault:
            self.failed(fault)
            return False
        self._lost_owners.clear()
        return bool(moved)

    def check(self) -> bool:
        """True while a write of this process was refused and no probe has succeeded since,
        and once more on the round the probe succeeds."""
        if STATUS.fault() is None:
            return False
        if time.monotonic() >= self._next_try:
            try:
                probe_write(self.db)
            except StorageUnavailable as fault:
                self.failed(fault)
        return True
