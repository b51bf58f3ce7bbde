"""Which errors are storage faults, and how the API states them. The drivers' own exception
classes, as they raise them: PostgreSQL's disk-full is not reproducible on a shared server, so
its SQLSTATE is checked here (the read-only one runs for real in test_storage_faults.py)."""

from __future__ import annotations

import errno
import logging
import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from rnnlab.service.errors import StorageFailing, StorageFull, StorageReadOnly, StorageUnreachable
from rnnlab.service.store.faults import UNREACHABLE, StorageStatus, as_storage_fault
from tests.conftest import LiveService


def wrapped(error: Exception) -> OperationalError:
    return OperationalError("UPDATE jobs SET progress=?", {}, error)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (psycopg.errors.DiskFull('could not extend file "base/16384/16390"'), StorageFull),
        (psycopg.errors.ReadOnlySqlTransaction("cannot execute UPDATE"), StorageReadOnly),
        (psycopg.errors.IoError("could not read block 0"), StorageFailing),
        (sqlite3.OperationalError("database or disk is full"), StorageFull),
        (sqlite3.OperationalError("attempt to write a readonly database"), StorageReadOnly),
        (sqlite3.OperationalError("disk I/O error"), StorageFailing),
        (OSError(errno.ENOSPC, "No space left on device"), StorageFull),
        (OSError(errno.EROFS, "Read-only file system"), StorageReadOnly),
        # the server ended the session mid-write (a restart, pg_terminate_backend)
        (psycopg.errors.AdminShutdown("terminating connection"), StorageUnreachable),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), StorageUnreachable),
        (psycopg.errors.ConnectionFailure("connection failure"), StorageUnreachable),
        # a SQLite file that cannot be opened (its directory gone) or is not a database
        (sqlite3.OperationalError("unable to open database file"), StorageUnreachable),
        (sqlite3.DatabaseError("file is not a database"), StorageUnreachable),
    ],
)
def test_storage_faults_are_recognised(error: Exception, kind: type) -> None:
    fault = as_storage_fault(wrapped(error) if not isinstance(error, OSError) else error)
    assert type(fault) is kind
    assert fault is not None and fault.reason  # the driver's words, for the log


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database is locked"),
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        OSError(errno.ENOENT, "No such file or directory"),
    ],
)
def test_other_errors_are_not(error: Exception) -> None:
    assert as_storage_fault(wrapped(error) if not isinstance(error, OSError) else error) is None
    assert as_storage_fault(IntegrityError("INSERT", {}, sqlite3.IntegrityError("x"))) is None


def test_a_connection_the_driver_saw_drop_is_unreachable_storage() -> None:
    """psycopg gives a connection closed under it no SQLSTATE; SQLAlchemy marks the error."""
    lost = OperationalError(
        "UPDATE jobs", {}, psycopg.OperationalError("server closed the connection unexpectedly")
    )
    lost.connection_invalidated = True
    assert type(as_storage_fault(lost)) is StorageUnreachable
    lost.connection_invalidated = False
    assert as_storage_fault(lost) is None


def test_a_connection_refused_is_unreachable_storage() -> None:
    """Opening a connection (no statement yet) that no server answers: refused, a database not
    accepting connections, a timeout. psycopg gives it no SQLSTATE either."""
    refused = OperationalError(
        None,
        None,
        psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
            'database "rnnlab" is not currently accepting connections'
        ),
    )
    fault = as_storage_fault(refused)
    assert type(fault) is StorageUnreachable
    assert fault.retry_after_seconds == 5
    assert "not currently accepting connections" in fault.reason


def test_every_operation_that_needs_the_database_documents_its_503(
    service: LiveService,
) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    operations = [
        (method, path, operation)
        for path, item in paths.items()
        for method, operation in item.items()
        if path not in ("/healthz", "/readyz")
    ]
    assert len(operations) >= 30
    for method, path, operation in operations:
        answer = operation["responses"].get("503")
        assert answer is not None, f"{method} {path} does not document its 503"
        assert "Retry-After" in answer["headers"]
        assert "Storage does not answer" in answer["description"]
        detail = answer["content"]["application/json"]["example"]["detail"]
        # an operation with a 503 of its own (every event stream open) shows that one's body
        assert detail.startswith("storage is") or "RNNLAB_MAX_OPEN_STREAMS" in detail


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status = StorageStatus(logging.getLogger("outage"))
    fault = StorageUnreachable(UNREACHABLE, "connection refused")
    with caplog.at_level(logging.INFO, logger="outage"):
        for _ in range(100):  # every loop and request of the process that meets it
            status.failed(fault)
        assert status.fault() is not None and not status.settled(0.0)
        for _ in range(3):
            status.succeeded()
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2, said
    assert said[0].startswith("storage is unreachable: ") and "[connection refused]" in said[0]
    assert said[1].startswith("storage is back after "), said[1]
    assert "(100 reads and writes refused meanwhile)" in said[1], said[1]
    assert status.fault() is None
    assert status.settled(0.0) and not status.settled(60.0)  # heartbeats get time to catch up
