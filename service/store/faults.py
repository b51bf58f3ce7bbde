"""Storage faults: the database cannot be written because its disk is full, it is read-only,
the disk fails, or it does not answer at all (its server restarting or refusing connections, a
session ended by an administrator, a database file that cannot be opened). They are not bugs of
the service and not the client's fault: they last until an operator frees space or makes the
database writable again (or, for an outage, until the server is back: seconds, a minute), and
then everything resumes.

`as_storage_fault` recognises them among the errors of SQLite, PostgreSQL and the OS, and turns
them into the domain errors of service/errors.py; `STATUS` remembers, per process, the fault that
is on and since when (what /readyz reports), and says in the log when it starts and when it ends,
with its length, where every loop of the process that meets it retries in silence.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from rnnlab.service.errors import (
    StorageFailing,
    StorageFull,
    StorageReadOnly,
    StorageUnavailable,
    StorageUnreachable,
)

FULL = (
    "storage is full: the service cannot save this change. Reads still work; free space on "
    "the disk that holds the database (RNNLAB_DATA_DIR, or the PostgreSQL server's), then retry"
)
READ_ONLY = (
    "storage is read-only: the database cannot be written (a read-only file system, an "
    "immutable database file, or a read-only PostgreSQL database). Reads still work; make the "
    "database writable again, then retry"
)
FAILING = (
    "storage is failing: the disk under the database reports input/output errors. Reads may "
    "still work; check the disk (RNNLAB_DATA_DIR, or the PostgreSQL server's), then retry"
)
UNREACHABLE = (
    "storage is unreachable: the database does not answer (a server restarting or refusing "
    "connections, a session ended by an administrator, the network, a database file that "
    "cannot be opened). Nothing of a change was saved; retry in a few seconds, and check the "
    "database (RNNLAB_DATABASE_URL, RNNLAB_DATA_DIR) if it lasts"
)

# PostgreSQL's SQLSTATEs: disk_full ("could not extend file" too), read_only_sql_transaction
# (default_transaction_read_only, a hot standby), io_error.
POSTGRES_STATES = {"53100": StorageFull, "25006": StorageReadOnly, "58030": StorageFailing}
# Class 08 (connection exception) and the server's shutdowns: admin_shutdown (a restart,
# pg_terminate_backend), crash_shutdown, cannot_connect_now (starting up).
POSTGRES_GONE_STATES = ("08", "57P01", "57P02", "57P03")
# SQLite's result codes (their extended codes start with the same name). A file that cannot be
# opened (its directory gone: a volume unmounted, a share dropped) or is not a database (another
# file put in its place) is the file-backed database not answering.
SQLITE_CODES = {
    "SQLITE_FULL": StorageFull,
    "SQLITE_READONLY": StorageReadOnly,
    "SQLITE_IOERR": StorageFailing,
    "SQLITE_CANTOPEN": StorageUnreachable,
    "SQLITE_NOTADB": StorageUnreachable,
}
SQLITE_MESSAGES = {
    "database or disk is full": StorageFull,
    "attempt to write a readonly database": StorageReadOnly,
    "disk i/o error": StorageFailing,
    "unable to open database file": StorageUnreachable,
    "file is not a database": StorageUnreachable,
}
OS_ERRNOS = {
    errno.ENOSPC: StorageFull,
    errno.EDQUOT: StorageFull,
    errno.EROFS: StorageReadOnly,
    errno.EIO: StorageFailing,
}
DETAILS = {
    StorageFull: FULL,
    StorageReadOnly: READ_ONLY,
    StorageFailing: FAILING,
    StorageUnreachable: UNREACHABLE,
}


def _kind(error: BaseException) -> type[StorageUnavailable] | None:
    if isinstance(error, StorageUnavailable):
        return type(error)
    if isinstance(error, DBAPIError):
        kind = _kind(error.orig) if error.orig is not None else None
        if kind is None and error.connection_invalidated:  # the driver saw a disconnect
            return StorageUnreachable
        if kind is None and error.statement is None and _no_server_answer(error.orig):
            return StorageUnreachable  # a new connection refused (the pool opens them)
        return kind
    if isinstance(error, OSError) and error.errno in OS_ERRNOS:
        return OS_ERRNOS[error.errno]
    state = getattr(error, "sqlstate", None)  # psycopg
    if state in POSTGRES_STATES:
        return POSTGRES_STATES[state]
    if state is not None and state.startswith(POSTGRES_GONE_STATES):
        return StorageUnreachable
    name = getattr(error, "sqlite_errorname", None) or ""  # sqlite3
    for code, kind in SQLITE_CODES.items():
        if name.startswith(code):
            return kind
    message = str(error).lower()  # a driver that gives no code (or an older Python)
    for text, kind in SQLITE_MESSAGES.items():
        if text in message:
            return kind
    return None


def _no_server_answer(error: BaseException | None) -> bool:
    """psycopg's OperationalError without a SQLSTATE: no server said anything (connection
    refused, a database not accepting connections, a timeout), as opposed to an error the
    server reported, which always carries one."""
    return type(error).__name__ == "OperationalError" and getattr(error, "sqlstate", "") is None


def as_storage_fault(error: BaseException) -> StorageUnavailable | None:
    """The domain error `error` amounts to when it is a storage fault; None otherwise."""
    kind = _kind(error)
    if kind is None:
        return None
    if isinstance(error, StorageUnavailable):
        return error
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:200]
    return kind(DETAILS[kind], reason)


@dataclass
class Fault:
    error: StorageUnavailable
    at: float  # time.monotonic() of the last refusal


class StorageStatus:
    """This process's storage fault, from the first read or write refused until a write
    succeeds (a job's, a heartbeat's, or the supervisor's probe every RETRY_SECONDS of
    rnnlab.service.jobs.storage_retry while there is one).

    It is also what the log says of it: one line when it starts, with what to do, at most one
    every `every` seconds while it lasts, and one when it ends, with its length. A loop that
    retries every fraction of a second (a worker's job, its claims, the supervisor, a request
    each) only reports here, and prints nothing of its own."""

    def __init__(self, log: logging.Logger, every: float = 60.0) -> None:
        self.log = log
        self.every = every
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._since = 0.0
        self._said_at = 0.0
        self._refused = 0
        self._over_at: float | None = None  # time.monotonic() when the last fault ended

    def failed(self, error: StorageUnavailable) -> None:
        now = time.monotonic()
        with self._lock:
            if self._fault is None:
                self._since, self._said_at, self._refused = now, now, 0
                self.log.error("%s [%s]; waiting for it, retrying", error.detail, error.reason)
            elif now - self._said_at >= self.every:
                self._said_at = now
                self.log.warning(
                    "%s still, after %.0f s (%d reads and writes refused) [%s]",
                    error.detail.split(":", 1)[0],  # "storage is unreachable"
                    now - self._since,
                    self._refused,
                    error.reason,
                )
            self._refused += 1
            self._fault = Fault(error, now)

    def succeeded(self) -> None:
        if self._fault is None:  # the common case reads one attribute and takes no lock
            return
        with self._lock:
            if self._fault is not None:
                self.log.warning(
                    "storage is back after %.1f s (%d reads and writes refused meanwhile)",
                    time.monotonic() - self._since,
                    self._refused,
                )
                self._fault = None
                self._over_at = time.monotonic()

    def fault(self) -> Fault | None:
        return self._fault

    def settled(self, seconds: float) -> bool:
        """No fault now, and none ended within `seconds`: long enough, say, for every running
        job's heartbeat, which could not be written during it, to be written again."""
        if self._fault is not None:
            return False
        return self._over_at is None or time.monotonic() - self._over_at >= seconds


STATUS = StorageStatus(logging.getLogger(__name__))


def describe(fault: Fault) -> str:
    """For /readyz: the fault, how long ago it was last seen, and what to do."""
    age = time.monotonic() - fault.at
    return f"{fault.error.detail} (last refused {age:.0f} s ago: {fault.error.reason})"
