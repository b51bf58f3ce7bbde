"""`backend`: the tests that take it run once on SQLite and once on PostgreSQL; `migrated_db`:
a migrated SQLite database in a temporary directory, for tests using the database in process;
`tmpfs`: a small file system of the test's own, to fill (root only, skipped elsewhere)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from tests.conftest import LiveService, postgres_available

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database of its own, dropped afterwards."""
    import psycopg

    name = f"rnnlab_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(
    request: pytest.FixtureRequest, service_factory: Callable[..., LiveService]
) -> Callable[..., LiveService]:
    """Start services (as `service_factory` does) on this test's database backend."""
    if request.param == "sqlite":
        return service_factory
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = request.getfixturevalue("postgres_url")
    return partial(service_factory, database_url=url)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 40 MB tmpfs of its own, unmounted afterwards whatever happened."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = _run("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount_point))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        _run("chattr", "-R", "-i", str(mount_point))
        _run("mount", "-o", "remount,rw", str(mount_point))
        _run("umount", "-l", str(mount_point))


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.fixture
def migrated_db(tmp_path: Path) -> Iterator[Database]:
    database = Database.connect(f"sqlite:///{tmp_path / 'rnnlab.db'}")
    upgrade(database)
    yield database
    database.dispose()
