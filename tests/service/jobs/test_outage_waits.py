"""A running job's writes during a database outage (service/jobs/storage_retry.py), in process on
a real PostgreSQL database whose new connections are refused and whose sessions are ended
(ALLOW_CONNECTIONS false, pg_terminate_backend): a flush waits until the database answers and
then writes every metric point it held, once; a worker told to stop gives up waiting, its
points still held."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy import select

from rnnlab.service.errors import StorageUnreachable
from rnnlab.service.jobs.hooks import FLUSH_SECONDS, DatabaseHooks
from rnnlab.service.jobs.storage_retry import StorageWait
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobStatus, Metric
from tests.service.conftest import ADMIN_URL

pytestmark = pytest.mark.postgres
WORKER = "host:1"
OUTAGE_SECONDS = 1.5


def running_job(db: Database) -> int:
    with db.write() as session:
        job = Job(task="binary_addition", hyperparams={}, status=JobStatus.RUNNING)
        job.worker_id, job.attempt = WORKER, 1
        session.add(job)
        session.flush()
        return job.id


def allow_connections(name: str, allowed: bool) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            # pg_terminate_backend only signals: the outage begins once the backends are gone
            count = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
            deadline = time.monotonic() + 30
            while admin.execute(count, (name,)).fetchone()[0] and time.monotonic() < deadline:
                time.sleep(0.01)


def steps(db: Database, job_id: int) -> list[int]:
    with db.read() as session:
        return list(session.scalars(select(Metric.step).where(Metric.job_id == job_id)))


def hooks_with_points(db: Database, job_id: int, stopping: threading.Event) -> DatabaseHooks:
    hooks = DatabaseHooks(db, job_id, WORKER, 60, attempt=1, wait=StorageWait(stopping))
    for step in range(1, 11):
        hooks.report(step, {"loss": 1.0}, step / 100)
    time.sleep(FLUSH_SECONDS)  # the next should_stop flushes
    return hooks


def test_a_flush_waits_out_an_outage_and_writes_every_point_once(
    postgres_db: Database, postgres_url: str
) -> None:
    job_id = running_job(postgres_db)
    hooks = hooks_with_points(postgres_db, job_id, threading.Event())
    name = postgres_url.rsplit("/", 1)[1]
    allow_connections(name, False)
    threading.Timer(OUTAGE_SECONDS, allow_connections, (name, True)).start()
    began = time.monotonic()
    assert hooks.should_stop() is False  # waits, then writes
    assert time.monotonic() - began >= OUTAGE_SECONDS - 0.1
    assert sorted(steps(postgres_db, job_id)) == list(range(1, 11))
    assert hooks.buffer.metrics == []

    hooks.report(11, {"loss": 1.0}, 0.11)
    time.sleep(FLUSH_SECONDS)
    hooks.should_stop()
    assert sorted(steps(postgres_db, job_id)) == list(range(1, 12))  # none written twice


def test_a_worker_told_to_stop_gives_up_waiting_and_keeps_its_points(
    postgres_db: Database, postgres_url: str
) -> None:
    job_id = running_job(postgres_db)
    stopping = threading.Event()
    hooks = hooks_with_points(postgres_db, job_id, stopping)
    name = postgres_url.rsplit("/", 1)[1]
    allow_connections(name, False)
    try:
        threading.Timer(0.5, stopping.set).start()
        began = time.monotonic()
        with pytest.raises(StorageUnreachable):
            hooks.should_stop()
        assert time.monotonic() - began < 5  # a retry's wait after the stop at most
    finally:
        allow_connections(name, True)
    assert len(hooks.buffer.metrics) == 10
    assert steps(postgres_db, job_id) == []
