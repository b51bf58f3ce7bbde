"""Engines and sessions.

SQLite needs care when two processes write: a deferred transaction that reads first and writes
later cannot wait for the lock, it fails at once with "database is locked". Every write
transaction therefore starts with BEGIN IMMEDIATE, which takes the write lock up front and waits
up to the busy timeout for it. Reads stay deferred, so in WAL mode they never wait for a writer.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from rnnlab.service.errors import StorageReadOnly, StorageUnavailable
from rnnlab.service.store.faults import READ_ONLY, STATUS, as_storage_fault

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_SIZE_LIMIT_BYTES = 4 * 2**20
# A PostgreSQL host that does not answer at all (down, a dropped network) would hold each new
# connection for the kernel's TCP timeout, minutes: a request answers 503 after this long instead.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


def postgres_connect_args(url: str) -> dict[str, object]:
    """What every PostgreSQL connection of the service is opened with, unless its URL says
    otherwise: the connect timeout above, and no GSSAPI encryption. libpq tries GSSAPI first by
    default, and its Kerberos library is not fork-safe: a Celery pool process forked while a
    thread of its parent connects can hang at its own first connection (a known libpq issue;
    the usual fix is gssencmode=disable). Where GSSAPI is wanted, ?gssencmode=prefer in the
    URL brings it back."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    given = parsed.query
    defaults = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS, "gssencmode": "disable"}
    return {name: value for name, value in defaults.items() if name not in given}


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    """The SQLite database's file, None for another backend or an in-memory database."""
    database = make_url(url).database
    if not _is_sqlite(url) or not database or database == ":memory:":
        return None
    return Path(database)


def _make_sqlite_engine(url: str, begin: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event emit BEGIN itself instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; fast commits in WAL
        # A checkpoint truncates the WAL back to this size: checkpoints rewritten every few
        # seconds had left a 16 MB WAL with 5 MB in use.
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql(begin)

    return engine


@dataclass
class Database:
    """A read engine and a write engine on one URL (the same engine outside SQLite)."""

    url: str
    read_engine: Engine
    write_engine: Engine

    def __post_init__(self) -> None:
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self.file = sqlite_file(self.url)

    @classmethod
    def connect(cls, url: str) -> Database:
        if _is_sqlite(url):
            return cls(
                url, _make_sqlite_engine(url, "BEGIN"), _make_sqlite_engine(url, "BEGIN IMMEDIATE")
            )
        engine = create_engine(url, pool_pre_ping=True, connect_args=postgres_connect_args(url))
        return cls(url, engine, engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; nothing it does is committed. A database that does not
        answer raises StorageUnavailable, as for a write (a 503, not a 500)."""
        session = self._read()
        try:
            yield session
        except (DBAPIError, OSError) as error:
            fault = _remembered(error)
            if fault is None:
                raise
            raise fault from error
        finally:
            # Ending a read rolls back its transaction, which fails on a connection the server
            # has just closed (after the reads, the answer maybe sent): there is nothing to undo,
            # and SQLAlchemy has already dropped that connection from its pool.
            with contextlib.suppress(DBAPIError):
                session.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose changes are committed on success and rolled back on error.

        A storage fault (disk full, read-only, I/O error) is raised as the domain error
        StorageUnavailable, and remembered for /readyz (rnnlab.service.store.faults.STATUS)."""
        self._refuse_unwritable_file()
        try:
            with self._write() as session, session.begin():
                yield session
        except (DBAPIError, OSError) as error:
            fault = _remembered(error)
            if fault is None:
                raise
            raise fault from error
        STATUS.succeeded()  # a write went through: a fault this process saw is over

    def _refuse_unwritable_file(self) -> None:
        """A SQLite file made read-only (chattr +i, a read-only mount) still takes writes from
        connections opened before, into its WAL, which can then never be checkpointed into it:
        one access() call, cheap beside any write, refuses them all alike, and at once."""
        if self.file is not None and not os.access(self.file, os.W_OK) and self.file.exists():
            fault = StorageReadOnly(READ_ONLY, "the database file is not writable")
            STATUS.failed(fault)
            raise fault

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()


def _remembered(error: DBAPIError | OSError) -> StorageUnavailable | None:
    """The StorageUnavailable `error` amounts to, remembered in STATUS; None for another error."""
    fault = as_storage_fault(error)
    if fault is not None:
        STATUS.failed(fault)
    return fault
