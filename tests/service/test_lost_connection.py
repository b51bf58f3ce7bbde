"""PostgreSQL ends a worker's session in the middle of a write (a server restart, an
administrator's pg_terminate_backend): the job is not lost. Its run stops, hands the job back
without spending an attempt, and the job resumes from its checkpoint, as after any storage
fault. The test makes the moment certain: it holds the job's row locked, so that the worker's
next write waits inside its transaction, and ends that session then."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from tests.service.broken_storage import service_on_postgres
from tests.service.test_readiness import wait_ready
from tests.service.test_storage_faults import (
    FAST_FAULTS,
    SETTLE_SECONDS,
    cancel,
    resumes,
    running_with_checkpoint,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def end_sessions_waiting_on(url: str, job_id: int) -> int:
    """Lock the job's row until the service's writes queue behind it, end every session that
    waits, and let go; how many were ended."""
    ended = 0
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as admin:
        holder.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (job_id,))
        deadline = time.monotonic() + 3  # the progress flush (every 0.5 s) waits too
        while time.monotonic() < deadline:
            ended += sum(
                terminated
                for (terminated,) in admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            time.sleep(0.05)
        holder.rollback()
    return ended


def test_a_session_ended_mid_write_hands_the_job_back_and_it_resumes(
    request: pytest.FixtureRequest, tmp_path: Path, service_factory
) -> None:
    live, url = service_on_postgres(request, tmp_path, service_factory, **FAST_FAULTS)
    job = running_with_checkpoint(live)

    libpq_url = url.replace("postgresql+psycopg", "postgresql")
    assert end_sessions_waiting_on(libpq_url, job["id"]) >= 1
    ended_at = time.monotonic()
    print(f"resumed {resumes(live, job, ended_at):.2f} s after the sessions were ended")
    now = live.client.get(f"/jobs/{job['id']}").json()
    assert (now["status"], now["attempt"], now["error"]) == ("running", 1, None), now
    assert "storage is unreachable" in live.log()
    assert "Traceback" not in live.log()
    wait_ready(live, timeout=SETTLE_SECONDS)
    ended = cancel(live, job["id"])
    assert (ended["status"], ended["attempt"]) == ("cancelled", 1)
