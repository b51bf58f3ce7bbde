"""`backend`: the tests that take it run once on SQLite and once on PostgreSQL; `migrated_db`:
a migrated SQLite database in a temporary directory, for tests using the database in process."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from service.db import Database
from service.migrate import upgrade
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
def migrated_db(tmp_path: Path) -> Iterator[Database]:
    database = Database.connect(f"sqlite:///{tmp_path / 'rnnlab.db'}")
    upgrade(database)
    yield database
    database.dispose()
