"""The local executor: worker processes on this machine, and their supervisor (what the rest
of the job system calls the supervisor). Runs in the web process: keeps `max_concurrent_jobs`
worker processes alive, wakes them when a job is queued, and puts the jobs of a dead worker
back in the queue (or fails them)."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from sqlalchemy import select

from rnnlab.service.errors import StorageUnavailable
from rnnlab.service.jobs.heartbeat import Liveness
from rnnlab.service.jobs.local.storage_watch import StorageWatch
from rnnlab.service.jobs.local.wake import WakeUp
from rnnlab.service.jobs.local.worker import worker_main
from rnnlab.service.jobs.processes import pid_alive
from rnnlab.service.jobs.queue import WORKER_UNRESPONSIVE, recover_lost_jobs, release_jobs
from rnnlab.service.settings import Settings
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobStatus

log = logging.getLogger(__name__)

MONITOR_SECONDS = 0.2
HEARTBEAT_SWEEP_SECONDS = 5.0
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """A spawned process inherits the signal mask: it starts with SIGINT and SIGTERM held, and
    the worker unblocks them once its own handler is installed (see worker._stop_on_signals)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@dataclass
class Worker:
    process: BaseProcess
    ready: Connection  # the worker sends its pid here once it can claim jobs
    liveness: Liveness | None = None  # its pulse and CPU time (service/jobs/heartbeat.py)
    is_ready: bool = False

    def up(self) -> bool:
        if not self.process.is_alive():
            return False
        if not self.is_ready:
            with contextlib.suppress(OSError, ValueError):  # closed by a replacement meanwhile
                self.is_ready = self.ready.poll()
        return self.is_ready


class LocalExecutor:
    """Worker processes on this machine (spawned: never a fork of the web process)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.restarts = 0  # workers replaced after they died
        self._context = multiprocessing.get_context("spawn")
        self.wake = WakeUp(self._context)
        self._workers: list[Worker] = []
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="rnnlab-supervisor", daemon=True)
        self._hostname = socket.gethostname()
        self._storage = StorageWatch(db, settings.max_attempts)

    def worker_id(self, process: BaseProcess) -> str:
        return f"{self._hostname}:{process.pid}"

    def start(self) -> None:
        try:
            self._recover_after_restart()
        except StorageUnavailable as fault:  # the sweep requeues them once their heartbeat is old
            log.warning("jobs of a previous start not requeued yet: %s", fault.detail)
        self._workers = [self._spawn() for _ in range(self.settings.max_concurrent_jobs)]
        self._monitor.start()
        self.notify()

    def notify(self) -> None:
        """A job was queued: wake one idle worker (before this returns)."""
        self.wake.notify()

    def submitted(self, job_ids: Sequence[int]) -> None:
        """Wake as many idle workers as there are new jobs (there are no more workers)."""
        for _ in range(min(len(job_ids), self.settings.max_concurrent_jobs)):
            self.notify()

    def stop(self) -> None:
        """Ask every worker to stop (SIGTERM: a running job checkpoints and goes back to the
        queue), wait up to RNNLAB_SHUTDOWN_GRACE_SECONDS, then kill the ones still running:
        their jobs go back to the queue too and resume from their last checkpoint."""
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join(timeout=2)
        processes = [worker.process for worker in self._workers]
        for process in processes:
            process.terminate()
            self.wake.notify()  # an idle worker notices at once
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        for process in processes:
            process.join(timeout=max(deadline - time.monotonic(), 0))
        for process in processes:
            if process.is_alive():
                log.warning(
                    "worker %s still busy after %g s (RNNLAB_SHUTDOWN_GRACE_SECONDS): killed; "
                    "its job resumes from its last checkpoint",
                    process.pid,
                    self.settings.shutdown_grace_seconds,
                )
                process.kill()
                process.join(timeout=5)
        try:
            release_jobs(self.db, [self.worker_id(p) for p in processes])
        except StorageUnavailable as fault:  # still `running`: the next start requeues them
            log.warning("running jobs not handed back at stop (%s): %s", fault.reason, fault.detail)
        for worker in self._workers:
            worker.ready.close()

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def not_ready(self) -> str | None:
        """Why the workers cannot take jobs yet, or None when every one of them can."""
        down = [worker for worker in self._workers if not worker.up()]
        if not down:
            return None
        pids = ", ".join(str(worker.process.pid) for worker in down)
        return f"{len(down)} of {len(self._workers)} worker processes not up yet (pid {pids})"

    def _spawn(self) -> Worker:
        receiver, sender = self._context.Pipe(duplex=False)
        pulse = self._context.RawValue("d", time.monotonic())
        process = self._context.Process(
            target=worker_main,
            args=(self.settings.model_dump_json(), self.wake, os.getpid(), sender, pulse),
            name="rnnlab-worker",
            daemon=True,
        )
        with _stop_signals_blocked():
            process.start()
        sender.close()  # the worker holds its own copy
        return Worker(process, receiver, Liveness(pulse, process.pid))

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
        return host == self._hostname and pid.isdigit() and not pid_alive(int(pid))

    def _watch(self) -> None:
        last_sweep = time.monotonic()
        while not self._stopping.wait(MONITOR_SECONDS):
            try:
                self._kill_unresponsive_workers()
                self._replace_dead_workers()
                if self._storage.check():
                    # Storage refused a write lately: the workers hand their own jobs back (no
                    # attempt spent) once it is writable; the sweep (an attempt each) waits.
                    last_sweep = time.monotonic()
                if time.monotonic() - last_sweep >= HEARTBEAT_SWEEP_SECONDS:
                    last_sweep = time.monotonic()
                    stale = timedelta(seconds=self.settings.heartbeat_timeout_seconds)
                    if recover_lost_jobs(
                        self.db, None, self.settings.max_attempts, stale, spare=self._live_ids()
                    ):
                        self.notify()
            except StorageUnavailable as fault:
                self._storage.failed(fault)
            except Exception:  # the supervisor must outlive any one failure
                log.exception("supervisor check failed")

    def _replace_dead_workers(self) -> None:
        for index, worker in enumerate(self._workers):
            process = worker.process
            if process.is_alive() or self._stopping.is_set():
                continue
            log.warning("worker %s exited with code %s", process.pid, process.exitcode)
            self._storage.requeue_later(self.worker_id(process))
            worker.ready.close()
            self._workers[index] = self._spawn()
            self.restarts += 1
            self.notify()
        if self._storage.requeue_lost_jobs():
            self.notify()

    def _kill_unresponsive_workers(self) -> None:
        """SIGKILL a worker with no pulse and no CPU time for the heartbeat timeout (SIGSTOP, a
        frozen process): a stuck worker holds its job and takes no other. `_replace_dead_workers`
        spawns its replacement, and its job resumes from its checkpoint (bounded by
        RNNLAB_MAX_ATTEMPTS). A worker counts once it is up: before that nothing beats yet."""
        timeout = self.settings.heartbeat_timeout_seconds
        for worker in self._workers:
            if self._stopping.is_set() or worker.liveness is None or not worker.up():
                continue
            silent = worker.liveness.silent_seconds()
            if silent <= timeout:
                continue
            process = worker.process
            reason = WORKER_UNRESPONSIVE.format(seconds=silent)
            log.warning("worker %s: %s", process.pid, reason.replace("its worker ", "", 1))
            process.kill()
            process.join(timeout=5)
            recover_lost_jobs(
                self.db, [self.worker_id(process)], self.settings.max_attempts, None, reason
            )

    def _live_ids(self) -> list[str]:
        """Workers this supervisor watches itself (`_kill_unresponsive_workers`): a heartbeat
        late in the database (a write waiting for the lock) does not make them lost."""
        return [self.worker_id(w.process) for w in self._workers if w.process.is_alive()]
