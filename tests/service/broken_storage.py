"""Storage made to fail for real, for tests/service/test_storage_faults.py: a file system
filled to its last byte, an immutable file (chattr +i), a read-only PostgreSQL database, and
`rnnlab serve` run to see whether it starts."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, LiveService, free_port, postgres_available
from tests.service.conftest import ADMIN_URL


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def immutable(path: Path, on: bool = True) -> None:
    done = run("chattr", "+i" if on else "-i", str(path))
    if done.returncode != 0:
        pytest.skip(f"cannot chattr {'+' if on else '-'}i here (needs root): {done.stderr.strip()}")


def fill(directory: Path) -> Path:
    """Write a file until the file system has no byte left."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as handle:
        for chunk in (2**20, 2**12, 1):
            try:
                while True:
                    handle.write(b"\0" * chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
    return filler


def empty_the_wal(database: Path) -> None:
    """Checkpoint and truncate SQLite's WAL, so that the next commit must grow it: a WAL with
    room left takes a few small writes even on a full disk."""
    connection = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        for _ in range(50):
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.05)
        raise AssertionError("the WAL could not be truncated: readers kept it busy")
    finally:
        connection.close()


def serve(data_dir: Path, **settings: str) -> subprocess.CompletedProcess:
    """`rnnlab serve` on `data_dir`: what it prints and its exit code (or a timeout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNLAB_")}
    env.update({f"RNNLAB_{k.upper()}": v for k, v in settings.items()})
    env.update(RNNLAB_DATA_DIR=str(data_dir), RNNLAB_PORT=str(free_port()))
    command = [sys.executable, "-m", "rnnlab.service.cli", "serve", "--no-access-log"]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def a_database_in(data_dir: Path, revision: str = "head") -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNNLAB_")}
    env["RNNLAB_DATA_DIR"] = str(data_dir)
    upgrade = [sys.executable, "-m", "rnnlab.service.cli", "db", "upgrade", revision]
    subprocess.run(upgrade, cwd=REPO, env=env, check=True, capture_output=True, timeout=60)
    return data_dir / "rnnlab.db"


def read_only_postgres(url: str, on: bool) -> None:
    """Switch the test's own database to read-only (or back), as a failover to a standby
    would: new sessions get it, so the service's idle connections are closed, and its pool
    opens new ones. Only connections idle for 100 ms are closed: a worker that has just
    checked one out of its pool (the ping updates state_change) is never cut mid-write, which
    would fail its job for a reason other than storage. Done for a second, it catches each
    connection idle at some point."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        value = "on" if on else "off"
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
        for _ in range(10):
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND state = 'idle' AND pid <> pg_backend_pid() "
                "AND state_change < now() - interval '100 milliseconds'",
                (name,),
            )
            time.sleep(0.1)


def service_on_postgres(
    request: pytest.FixtureRequest, tmp_path: Path, service_factory, **settings: str
) -> tuple[LiveService, str]:
    """A ready service on a PostgreSQL database of the test's own (skipped where there is no
    server), and that database's URL."""
    from tests.service.test_readiness import wait_ready

    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = request.getfixturevalue("postgres_url")
    live = service_factory(tmp_path / "data", database_url=url, **settings)
    wait_ready(live)
    return live, url
