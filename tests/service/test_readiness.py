"""/readyz is readiness (database, migrations, workers); /healthz stays liveness."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from tests.conftest import LiveService


def wait_ready(service: LiveService, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = service.client.get("/readyz")
        if response.status_code == 200:
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"not ready after {timeout} s: {response.json()}")


def worker_pids(service: LiveService) -> list[int]:
    """The service's spawned worker processes (not multiprocessing's resource tracker)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == service.process.pid and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return pids


def test_ready_once_workers_are_up_and_503_with_the_reason_otherwise(service_factory) -> None:
    live = service_factory(max_concurrent_jobs="2")
    assert wait_ready(live)["status"] == "ready"
    pids = worker_pids(live)
    assert len(pids) == 2

    os.kill(pids[0], signal.SIGKILL)
    reasons = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert live.client.get("/healthz").status_code == 200  # alive all along
        response = live.client.get("/readyz")
        if response.status_code == 503:
            reasons.append(response.json()["detail"])
        elif reasons:
            break
        time.sleep(0.02)
    assert reasons, "never unready while a worker was replaced"
    assert any("of 2 worker processes not up" in reason for reason in reasons), reasons
    assert wait_ready(live)["status"] == "ready"
    assert "rnnlab_worker_restarts_total 1.0" in live.client.get("/metrics").text


def test_503_while_the_schema_is_not_at_this_versions_head(service_factory, tmp_path) -> None:
    live = service_factory(tmp_path / "data")
    wait_ready(live)
    database = sqlite3.connect(tmp_path / "data" / "rnnlab.db", isolation_level=None)
    (head,) = database.execute("SELECT version_num FROM alembic_version").fetchone()
    database.execute("UPDATE alembic_version SET version_num = 'older'")
    response = live.client.get("/readyz")
    assert response.status_code == 503
    assert "schema at revision older" in response.json()["detail"]
    assert "rnnlab db upgrade" in response.json()["detail"]
    database.execute("UPDATE alembic_version SET version_num = ?", (head,))
    assert live.client.get("/readyz").status_code == 200
    database.close()


def test_readyz_needs_no_api_key(service_factory) -> None:
    live = service_factory(api_key="k", protect_reads="true")
    assert live.client.get("/jobs").status_code == 401
    assert wait_ready(live)["status"] == "ready"
