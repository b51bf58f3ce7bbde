"""A full disk or an unwritable database, for real: the data directory on a 40 MB tmpfs filled
during a job, the database file made immutable (chattr +i), a read-only file system, and a
PostgreSQL database switched to read-only. Writes answer 503 with what to do, reads keep
working, /readyz says why, the job goes back to the queue and resumes from its checkpoint once
storage is back (no attempt spent), the workers stay alive and the log says it once.

Mounting and chattr need root (CI runs as root); elsewhere these tests skip and say so."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import LiveService, postgres_available
from tests.service.broken_storage import (
    a_database_in,
    empty_the_wal,
    fill,
    immutable,
    read_only_postgres,
    run,
    serve,
    service_on_postgres,
)
from tests.service.sse import messages
from tests.service.test_readiness import wait_ready, worker_pids

# Never learns (plain SGD at 1e-9): runs until the test cancels it, checkpointing every 0.5 s.
LONG_JOB = {"iterations": 10_000_000, "optimizer": "sgd", "learning_rate": 1e-9}
CORPUS = b"the cat sat on the mat " * 200  # over the 801 words a corpus needs
HEARTBEAT_TIMEOUT = 2.0
FAST_FAULTS = {"heartbeat_timeout_seconds": str(HEARTBEAT_TIMEOUT), "checkpoint_seconds": "0.5"}
# Generous bounds for a loaded 2-core machine: the service resumes within ~0.5 s.
SETTLE_SECONDS = 20.0
OUTAGE_SECONDS = 3.0  # long enough for 15 supervisor ticks (0.2 s) and 6 worker retries


def running_with_checkpoint(live: LiveService) -> dict:
    job = live.train("binary_addition", **LONG_JOB)
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        job = live.client.get(f"/jobs/{job['id']}").json()
        if job["status"] == "running" and job["checkpoint_step"] is not None:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job never checkpointed: {job}\n{live.log()[-2000:]}")


def assert_writes_refused(live: LiveService, words: str) -> None:
    for response in (
        live.client.post("/train", json={"task": "binary_addition", "hyperparams": {}}),
        live.client.post("/corpora?name=refused", content=CORPUS),
    ):
        assert response.status_code == 503, response.text
        assert response.json()["detail"].startswith(f"storage is {words}"), response.text
        assert int(response.headers["Retry-After"]) > 0


def assert_reads_work(live: LiveService, words: str) -> None:
    assert live.client.get("/healthz").status_code == 200
    assert live.client.get("/jobs").status_code == 200
    assert live.client.get("/models").status_code == 200
    assert live.client.get("/predict", params={"a": 3, "b": 4}).json()["sum"] == 7
    readiness = live.client.get("/readyz")
    assert readiness.status_code == 503
    assert f"storage is {words}" in readiness.json()["detail"], readiness.text


def watch_the_outage(live: LiveService, job_id: int, since: float) -> float:
    """Follow the job through OUTAGE_SECONDS after the job shows queued; return how long after
    `since` it was last shown running."""
    last_running = since
    deadline = time.monotonic() + SETTLE_SECONDS
    shown_queued_at = None
    while shown_queued_at is None or time.monotonic() - shown_queued_at < OUTAGE_SECONDS:
        job = live.client.get(f"/jobs/{job_id}").json()
        if job["status"] == "running":
            last_running = time.monotonic()
        elif shown_queued_at is None:
            assert job["status"] == "queued", job
            assert job["status_detail"].startswith("awaiting retry"), job
            shown_queued_at = time.monotonic()
            assert job_id in listed(live, "queued") and job_id not in listed(live, "running")
            assert_every_view_shows_it_queued(live, job_id)
        assert time.monotonic() < deadline, f"still shown running: {job}"
        time.sleep(0.1)
    return last_running - since


def assert_every_view_shows_it_queued(live: LiveService, job_id: int) -> None:
    """The job's event stream, the all-jobs stream, the dashboard and /metrics say what
    GET /jobs says of a job whose worker is silent: queued, awaiting retry."""
    for path in (f"/jobs/{job_id}/events", "/events"):
        with live.client.stream("GET", path, timeout=10) as response:
            status = next(
                m.json
                for m in messages(response.iter_lines())
                if m.event == "status" and m.json["id"] == job_id
            )
        assert status["status"] == "queued", (path, status)
        assert status["status_detail"].startswith("awaiting retry"), (path, status)
    assert 'class="status queued" title="awaiting retry' in live.client.get("/").text
    exposition = live.client.get("/metrics").text
    assert 'rnnlab_jobs{status="running"} 0.0' in exposition
    assert f'rnnlab_job_steps_per_second{{job_id="{job_id}"' not in exposition


def listed(live: LiveService, status: str) -> list[int]:
    jobs = live.client.get("/jobs", params={"status": status}).json()["jobs"]
    return [job["id"] for job in jobs]


def resumes(live: LiveService, job: dict, since: float) -> float:
    """Seconds from `since` until the job runs again past its checkpoint of before."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        now = live.client.get(f"/jobs/{job['id']}").json()
        if now["status"] == "running" and now["checkpoint_step"] > job["checkpoint_step"]:
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError(f"job did not resume: {now}\n{live.log()[-3000:]}")


def cancel(live: LiveService, job_id: int) -> dict:
    assert live.client.post(f"/jobs/{job_id}/cancel").status_code == 202
    return live.wait_for_job(job_id, timeout=SETTLE_SECONDS)


def assert_log_says_it_once(live: LiveService, words: str) -> None:
    log = live.log()
    assert "Traceback" not in log, log[-3000:]
    said = [line for line in log.splitlines() if f"storage is {words}" in line]
    # one line per loop that met it (a worker's job, its claims, the supervisor): not 5 a second
    assert 1 <= len(said) <= 6, said
    requeued = [line for line in log.splitlines() if "lost its worker" in line]
    assert len(requeued) <= 1, requeued  # said once it is true, not at each refused try


def trained_model(live: LiveService) -> None:
    job = live.train("binary_addition", iterations=300)
    assert live.wait_for_job(job["id"])["status"] == "succeeded"


@pytest.mark.slow  # ~20 s: a service, a job, an outage of a few seconds
def test_a_full_disk_during_a_job(tmpfs: Path, service_factory) -> None:
    live = service_factory(tmpfs, log_dir=tmpfs.parent, **FAST_FAULTS)
    wait_ready(live)
    trained_model(live)
    pids = worker_pids(live)
    job = running_with_checkpoint(live)

    empty_the_wal(tmpfs / "rnnlab.db")
    filler = fill(tmpfs)
    full_at = time.monotonic()
    assert_writes_refused(live, "full")
    assert_reads_work(live, "full")
    shown_running = watch_the_outage(live, job["id"], full_at)
    assert shown_running < HEARTBEAT_TIMEOUT + 5, shown_running  # + a flush, under load
    assert worker_pids(live) == pids  # the worker did not die of it
    assert_log_says_it_once(live, "full")

    filler.unlink()
    freed_at = time.monotonic()
    print(f"resumed {resumes(live, job, freed_at):.2f} s after the space came back")
    wait_ready(live, timeout=SETTLE_SECONDS)
    assert live.client.post("/corpora?name=after", content=CORPUS).status_code == 201
    ended = cancel(live, job["id"])
    assert (ended["status"], ended["attempt"]) == ("cancelled", 1)  # no attempt spent


@pytest.mark.slow  # ~20 s: a service, a job, an outage of a few seconds
def test_an_immutable_database_file_during_a_job(tmp_path: Path, service_factory) -> None:
    live = service_factory(tmp_path / "data", log_dir=tmp_path, **FAST_FAULTS)
    wait_ready(live)
    trained_model(live)
    pids = worker_pids(live)
    job = running_with_checkpoint(live)

    immutable(tmp_path / "data" / "rnnlab.db")
    try:
        locked_at = time.monotonic()
        assert_writes_refused(live, "read-only")
        assert_reads_work(live, "read-only")
        shown_running = watch_the_outage(live, job["id"], locked_at)
        assert shown_running < HEARTBEAT_TIMEOUT + 5, shown_running
        assert worker_pids(live) == pids
        assert_log_says_it_once(live, "read-only")
    finally:
        immutable(tmp_path / "data" / "rnnlab.db", on=False)
    print(f"resumed {resumes(live, job, time.monotonic()):.2f} s after chattr -i")
    wait_ready(live, timeout=SETTLE_SECONDS)
    ended = cancel(live, job["id"])
    assert (ended["status"], ended["attempt"]) == ("cancelled", 1)


@pytest.mark.slow  # ~20 s: a service, a job, an outage of a few seconds
def test_the_supervisor_replaces_a_dead_worker_while_the_disk_is_full(
    tmpfs: Path, service_factory
) -> None:
    live = service_factory(tmpfs, log_dir=tmpfs.parent, **FAST_FAULTS)
    wait_ready(live)
    (dead,) = worker_pids(live)
    job = running_with_checkpoint(live)
    empty_the_wal(tmpfs / "rnnlab.db")
    filler = fill(tmpfs)
    assert live.client.post("/corpora?name=refused", content=CORPUS).status_code == 503

    os.kill(dead, signal.SIGKILL)
    deadline = time.monotonic() + SETTLE_SECONDS
    while worker_pids(live) in ([], [dead]):
        assert time.monotonic() < deadline, f"no worker replaced {dead}:\n{live.log()[-3000:]}"
        time.sleep(0.1)
    time.sleep(OUTAGE_SECONDS)  # the supervisor retries its requeue meanwhile
    assert len(worker_pids(live)) == 1
    assert_log_says_it_once(live, "full")

    filler.unlink()
    print(f"resumed {resumes(live, job, time.monotonic()):.2f} s after the space came back")
    ended = cancel(live, job["id"])
    assert (ended["status"], ended["attempt"]) == ("cancelled", 2)  # the dead worker spent one


@pytest.mark.parametrize("how", ["read-only file system", "immutable database file"])
def test_start_up_on_storage_that_cannot_be_written_is_refused(tmpfs: Path, how: str) -> None:
    database = a_database_in(tmpfs)
    if how == "immutable database file":
        immutable(database)
    else:
        remounted = run("mount", "-o", "remount,ro", str(tmpfs))
        assert remounted.returncode == 0, remounted.stderr
    started = time.monotonic()
    refused = serve(tmpfs)
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert refused.stderr.startswith("rnnlab serve: cannot start: the database cannot be"), (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr
    assert time.monotonic() - started < 30


def test_start_up_on_a_full_disk_with_migrations_pending_is_refused(tmpfs: Path) -> None:
    """A full disk lets the service start (it serves what it has), unless this version's
    migrations must first be written: then it says so in one line."""
    database = a_database_in(tmpfs, revision="0005")
    empty_the_wal(database)
    fill(tmpfs)
    refused = serve(tmpfs)
    assert refused.returncode == 1, refused.stderr[-2000:]
    last_line = refused.stderr.strip().splitlines()[-1]  # after the warning that it is full
    assert last_line.startswith(
        "rnnlab serve: cannot start: the database cannot take its migrations"
    ), refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow  # ~20 s
@pytest.mark.postgres
def test_a_read_only_postgresql_database_during_a_job(
    request: pytest.FixtureRequest, tmp_path: Path, service_factory
) -> None:
    live, url = service_on_postgres(request, tmp_path, service_factory, **FAST_FAULTS)
    trained_model(live)
    pids = worker_pids(live)
    job = running_with_checkpoint(live)

    read_only_postgres(url, True)
    locked_at = time.monotonic()
    assert_writes_refused(live, "read-only")
    assert_reads_work(live, "read-only")
    shown_running = watch_the_outage(live, job["id"], locked_at)
    assert shown_running < HEARTBEAT_TIMEOUT + 5, shown_running
    assert worker_pids(live) == pids
    assert_log_says_it_once(live, "read-only")

    switched_at = time.monotonic()
    read_only_postgres(url, False)  # ~1 s of it
    print(f"resumed {resumes(live, job, switched_at):.2f} s after the switch back to read-write")
    wait_ready(live, timeout=SETTLE_SECONDS)
    ended = cancel(live, job["id"])
    assert (ended["status"], ended["attempt"]) == ("cancelled", 1)


@pytest.mark.postgres
def test_start_up_on_a_read_only_postgresql_database_is_refused(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = request.getfixturevalue("postgres_url")
    read_only_postgres(url, True)
    refused = serve(tmp_path / "data", database_url=url)
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert "cannot start: the database cannot be written" in refused.stderr, refused.stderr
