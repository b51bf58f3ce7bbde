"""A migrated SQLite database in a temporary directory, for tests using the database in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.db import Database
from service.migrate import upgrade


@pytest.fixture
def migrated_db(tmp_path: Path) -> Iterator[Database]:
    database = Database.connect(f"sqlite:///{tmp_path / 'rnnlab.db'}")
    upgrade(database)
    yield database
    database.dispose()
