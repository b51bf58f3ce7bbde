"""A service per database for the tests that must hold on SQLite and on PostgreSQL alike:
`live` is module-scoped and parametrized, so each module runs once against each."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import LiveService, postgres_available, start_service

POSTGRES = pytest.param(
    "postgresql",
    marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not reachable"),
    ],
)
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def service_on(backend: str, data_dir: Path, **settings: str) -> Iterator[LiveService]:
    """A service on `backend`: SQLite in `data_dir`, or a PostgreSQL database of its own,
    dropped afterwards."""
    name = None
    if backend == "postgresql":
        import psycopg

        name = f"rnnlab_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        settings["database_url"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    service = None
    try:
        service = start_service(data_dir, **settings)
        service.database = backend  # type: ignore[attr-defined]
        yield service
    finally:
        if service is not None:
            service.stop()
        if name is not None:
            import psycopg

            with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", POSTGRES])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveService]:
    data_dir = tmp_path_factory.mktemp(request.param)
    with service_on(request.param, data_dir, max_concurrent_jobs="2") as service:
        yield service


def succeeded(live: LiveService, task: str = "binary_addition", **body) -> dict:
    """Train a small job (with `name`, `tags` from body) and wait for its success."""
    hyperparams = body.pop("hyperparams", {})
    if task == "binary_addition":
        hyperparams.setdefault("iterations", 300)
    else:
        hyperparams = {"epochs": 1, "hidden_size": 16, "embedding_size": 8, **hyperparams}
    response = live.client.post("/train", json={"task": task, "hyperparams": hyperparams, **body})
    assert response.status_code == 202, response.text
    job = live.wait_for_job(response.json()["id"], timeout=180)
    assert job["status"] == "succeeded", job
    return job
