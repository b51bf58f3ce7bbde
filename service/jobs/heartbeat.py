"""Heartbeats that do not depend on the training loop's pace.

A single numpy step can take longer than RNNLAB_HEARTBEAT_TIMEOUT_SECONDS (a large
hidden_size and batch_size on a small machine), so the loop's own writes cannot be what tells a
slow worker from a dead or stuck one. Two threads of the worker process beat instead; numpy
releases the GIL inside BLAS and its ufunc loops, so they run while a step computes:

- `Pulse` stamps a float in memory shared with the supervisor (the web process), idle or busy.
  A worker whose pulse is older than the timeout has stopped answering (SIGSTOP, a debugger, a
  frozen process) and the supervisor kills and replaces it (jobs/local/executor.py).
- `JobHeartbeat` writes the running job's `heartbeat_at`, one short UPDATE in its own
  transaction, so that the job's owner is known to be alive by anyone who reads the database
  (the supervisor's sweep, the next start).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from rnnlab.service.errors import StorageUnavailable
from rnnlab.service.jobs.processes import cpu_ticks
from rnnlab.service.jobs.queue import update_held_job
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import utcnow

log = logging.getLogger(__name__)

BEATS_PER_TIMEOUT = 4  # a beat may be late three times before the timeout is reached
LONGEST_BEAT_SECONDS = 5.0  # however long the timeout, a running job is heard from this often


def beat_seconds(timeout_seconds: float) -> float:
    """How often to beat for a given RNNLAB_HEARTBEAT_TIMEOUT_SECONDS."""
    return min(timeout_seconds / BEATS_PER_TIMEOUT, LONGEST_BEAT_SECONDS)


class Pulse:
    """Stamps `time.monotonic()` into `shared` (a multiprocessing RawValue('d')) every
    `seconds`, on a daemon thread, for as long as the process lives. CLOCK_MONOTONIC is one
    clock for every process of the machine, so the supervisor compares it with its own."""

    def __init__(self, shared: Any, seconds: float) -> None:
        self.shared = shared
        self.seconds = seconds
        self.shared.value = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="rnnlab-pulse", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self.shared.value = time.monotonic()  # one aligned 8-byte store: never torn
            time.sleep(self.seconds)


class Liveness:
    """The supervisor's view of one worker: how long it has given no sign of life.

    A sign of life is a pulse, or CPU time spent (read from /proc, as the OS counts it). The
    second matters because a thread beats only when it gets the GIL, and some C calls hold the
    GIL for long (a blob of hundreds of MB copied into SQLite): a worker busy in one
    spends CPU time. A stopped process (SIGSTOP) or one stuck in a lock spends none.
    """

    def __init__(self, pulse: Any, pid: int | None) -> None:
        self.pulse = pulse
        self.cpu = CpuWatch(pid)

    def silent_seconds(self) -> float:
        return min(time.monotonic() - float(self.pulse.value), self.cpu.idle_seconds())


class CpuWatch:
    """How long a process has spent no CPU time; unknown (no /proc) counts as time spent."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._ticks = cpu_ticks(pid)
        self._moved_at = time.monotonic()

    def idle_seconds(self) -> float:
        now = time.monotonic()
        ticks = cpu_ticks(self.pid)
        if ticks is None or ticks != self._ticks:
            self._ticks, self._moved_at = ticks, now
        return now - self._moved_at


class JobHeartbeat:
    """Writes `heartbeat_at` of a job this worker runs, every `seconds`, until stopped."""

    def __init__(
        self, db: Database, job_id: int, worker_id: str, attempt: int, seconds: float
    ) -> None:
        self.db = db
        self.job_id = job_id
        self.worker_id = worker_id
        self.attempt = attempt
        self.seconds = seconds
        self.writes = 0
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(
            target=self._run, name=f"rnnlab-heartbeat-{job_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            if not self.beat():
                return  # the job is no longer this worker's: nothing left to vouch for

    def beat(self) -> bool:
        """One heartbeat; False once the job is no longer running on this worker."""
        try:
            with self.db.write() as session:
                owned = session.execute(
                    update_held_job(self.job_id, self.worker_id, self.attempt).values(
                        heartbeat_at=utcnow()
                    )
                )
        except StorageUnavailable:  # the next beat tries again; faults.STATUS logs the outage
            return True
        except Exception as error:  # the next beat tries again; the loop's writes say more
            if not self._failing:
                log.warning("job %s: heartbeat not written (%s)", self.job_id, error)
            self._failing = True
            return True
        self._failing = False
        self.writes += 1
        return owned.rowcount > 0  # type: ignore[attr-defined]


@contextlib.contextmanager
def job_heartbeat(
    db: Database, job_id: int, worker_id: str, attempt: int, seconds: float
) -> Iterator[None]:
    """Beat for `job_id` while the body runs it (on any executor: run_job does)."""
    heartbeat = JobHeartbeat(db, job_id, worker_id, attempt, seconds)
    heartbeat.start()
    try:
        yield
    finally:
        heartbeat.stop()
