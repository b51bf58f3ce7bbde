"""The Celery worker's watchdog over its own pool: a process that holds a running job and has
given no sign of life for RNNLAB_HEARTBEAT_TIMEOUT_SECONDS (no heartbeat written, no CPU time
spent: SIGSTOP, a frozen process) is killed, as the local supervisor kills a stuck worker.

Celery replaces a pool process only once it has died: a stopped one kept its slot, and a worker
of one process stalled its queue. Once killed, billiard starts a replacement, Celery delivers
the job's message again (`task_reject_on_worker_lost`), and that delivery finds the holder dead
and resumes the job from its checkpoint (service/jobs/celery/worker.py), within
RNNLAB_MAX_ATTEMPTS. The watchdog runs as a thread of the worker's main process, which the pool
processes are forked from: it opens a connection for each look and closes it, so that no
process is forked with a connection of its parent open.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable

from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from rnnlab.service.jobs.heartbeat import CpuWatch, beat_seconds
from rnnlab.service.jobs.queue import WORKER_UNRESPONSIVE, recover_lost_jobs
from rnnlab.service.settings import Settings
from rnnlab.service.store.db import Database, postgres_connect_args
from rnnlab.service.store.tables import Job, JobStatus, utcnow

log = logging.getLogger("rnnlab.jobs.celery")


class PoolWatchdog:
    def __init__(self, settings: Settings, pool_pids: Callable[[], Iterable[int]]) -> None:
        self.timeout = settings.heartbeat_timeout_seconds
        self.max_attempts = settings.max_attempts
        self.interval = beat_seconds(self.timeout)
        self.pool_pids = pool_pids
        url = settings.resolved_database_url
        engine = create_engine(url, poolclass=NullPool, connect_args=postgres_connect_args(url))
        self.db = Database(url, engine, engine)
        self.host = socket.gethostname()
        self._cpu: dict[int, CpuWatch] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rnnlab-pool-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.look()
            except Exception as error:  # the database is away: look again at the next beat
                log.warning("pool watchdog: could not look at the running jobs (%s)", error)

    def look(self) -> list[int]:
        """Kill the pool processes whose job has had no sign of life for the timeout; their
        pids."""
        pids = {pid for pid in self.pool_pids() if pid}
        self._cpu = {pid: self._cpu.get(pid) or CpuWatch(pid) for pid in pids}
        holders = {f"{self.host}:{pid}": pid for pid in pids}
        if not holders:
            return []
        with self.db.read() as session:
            running = session.execute(
                select(Job.id, Job.worker_id, Job.heartbeat_at).where(
                    Job.status == JobStatus.RUNNING, Job.worker_id.in_(list(holders))
                )
            ).all()
        killed = []
        for job_id, worker_id, heartbeat_at in running:
            pid = holders[worker_id or ""]  # selected by worker_id: one of the holders
            unheard = (utcnow() - heartbeat_at).total_seconds() if heartbeat_at else self.timeout
            silent = min(unheard, self._cpu[pid].idle_seconds())
            if silent <= self.timeout:
                continue
            reason = WORKER_UNRESPONSIVE.format(seconds=silent)
            seen = reason.removeprefix("its worker ")
            log.warning("job %s: pool process %s %s", job_id, pid, seen)
            os.kill(pid, signal.SIGKILL)
            # The job's failure reason says what was seen; the message Celery delivers again
            # then finds it queued and resumes it.
            recover_lost_jobs(self.db, [f"{self.host}:{pid}"], self.max_attempts, None, reason)
            killed.append(pid)
        return killed
