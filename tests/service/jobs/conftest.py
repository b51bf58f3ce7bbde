"""In-process tests of the job machinery on a real PostgreSQL database of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from tests.conftest import postgres_available


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[Database]:
    """A migrated database on the test's PostgreSQL URL (skipped where none answers)."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    database = Database.connect(postgres_url)
    upgrade(database)
    yield database
    database.dispose()
