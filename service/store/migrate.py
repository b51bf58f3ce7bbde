"""Apply the Alembic migrations programmatically (`upgrade head` at start-up)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from rnnlab import migrations
from rnnlab.service.store.db import Database


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is already there."""
    config = alembic_config(database.url)
    # The write engine on SQLite begins IMMEDIATE: two processes starting at once serialise.
    with (
        database.write_engine.connect() as connection,
        _sqlite_foreign_keys_off(connection),
        connection.begin(),
    ):
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite's foreign keys off while the migrations run, as SQLite prescribes for recreating
    a table that others refer to: dropping the old table would delete (ON DELETE CASCADE) or
    refuse (RESTRICT) the rows that refer to it. A revision that recreates one checks the keys
    itself before it ends (PRAGMA foreign_key_check). The pragma is a no-op inside a
    transaction: it goes to the driver's connection before the first BEGIN."""
    if connection.dialect.name != "sqlite":
        yield
        return
    sqlite = connection.connection.driver_connection
    assert sqlite is not None
    sqlite.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        sqlite.execute("PRAGMA foreign_keys=ON")


def head_revision(database: Database) -> str | None:
    """The newest revision this version of rnnlab knows."""
    return ScriptDirectory.from_config(alembic_config(database.url)).get_current_head()


def current_revision(session: Session) -> str | None:
    """The revision the database is at; None before the first migration."""
    try:
        return session.scalar(text("SELECT version_num FROM alembic_version"))
    except ProgrammingError:
        return None  # PostgreSQL: no such table
    except OperationalError as error:
        if "no such table" in str(error):  # SQLite
            return None
        raise
