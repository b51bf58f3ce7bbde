"""Runs in the web process: keeps `max_concurrent_jobs` worker processes alive, wakes them when
a job is queued, and puts the jobs of a dead worker back in the queue (or fails them)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import time
from datetime import timedelta
from multiprocessing.process import BaseProcess

from sqlalchemy import select

from service.db import Database
from service.jobs.queue import recover_lost_jobs, release_jobs
from service.jobs.wake import WakeUp
from service.jobs.worker import worker_main
from service.settings import Settings
from service.tables import Job, JobStatus

log = logging.getLogger(__name__)

MONITOR_SECONDS = 0.2
HEARTBEAT_SWEEP_SECONDS = 5.0


def _pid_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (a killed worker nobody has reaped yet) counts as dead."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class LocalExecutor:
    """Worker processes on this machine (spawned: never a fork of the web process)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self._context = multiprocessing.get_context("spawn")
        self.wake = WakeUp(self._context)
        self._workers: list[BaseProcess] = []
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="rnnlab-supervisor", daemon=True)
        self._hostname = socket.gethostname()

    def worker_id(self, process: BaseProcess) -> str:
        return f"{self._hostname}:{process.pid}"

    def start(self) -> None:
        self._recover_after_restart()
        self._workers = [self._spawn() for _ in range(self.settings.max_concurrent_jobs)]
        self._monitor.start()
        self.notify()

    def notify(self) -> None:
        """A job was queued: wake one idle worker (before this returns)."""
        self.wake.notify()

    def stop(self) -> None:
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join(timeout=2)
        for process in self._workers:
            process.terminate()
        for process in self._workers:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        release_jobs(self.db, [self.worker_id(p) for p in self._workers])

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._workers if p.pid is not None]

    def _spawn(self) -> BaseProcess:
        process = self._context.Process(
            target=worker_main,
            args=(self.settings.model_dump_json(), self.wake, os.getpid()),
            name="rnnlab-worker",
            daemon=True,
        )
        process.start()
        return process

    def _recover_after_restart(self) -> None:
        """Jobs left `running` by workers of this machine that no longer exist (a crash)."""
        with self.db.read() as session:
            owners = session.scalars(
                select(Job.worker_id).where(Job.status == JobStatus.RUNNING).distinct()
            ).all()
        dead = [owner for owner in owners if owner and self._is_dead_local_worker(owner)]
        recovered = recover_lost_jobs(self.db, dead, self.settings.max_attempts, None)
        if recovered:
            log.warning("recovered jobs %s left running by a previous start", recovered)

    def _is_dead_local_worker(self, worker_id: str) -> bool:
        host, _, pid = worker_id.rpartition(":")
        return host == self._hostname and pid.isdigit() and not _pid_alive(int(pid))

    def _watch(self) -> None:
        last_sweep = time.monotonic()
        while not self._stopping.wait(MONITOR_SECONDS):
            try:
                self._replace_dead_workers()
                if time.monotonic() - last_sweep >= HEARTBEAT_SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    stale = timedelta(seconds=self.settings.heartbeat_timeout_seconds)
                    if recover_lost_jobs(self.db, None, self.settings.max_attempts, stale):
                        self.notify()
            except Exception:  # the supervisor must outlive any one failure
                log.exception("supervisor check failed")

    def _replace_dead_workers(self) -> None:
        for index, process in enumerate(self._workers):
            if process.is_alive() or self._stopping.is_set():
                continue
            log.warning("worker %s exited with code %s", process.pid, process.exitcode)
            recover_lost_jobs(self.db, [self.worker_id(process)], self.settings.max_attempts, None)
            self._workers[index] = self._spawn()
            self.notify()
