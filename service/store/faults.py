"""Storage faults: the database cannot be written because its disk is full, it is read-only,
the disk fails, or its server closed the connection mid-write. They are not bugs of the service
and not the client's fault: they last until an operator frees space or makes the database
writable again (or, for a lost connection, the server is back: seconds), and then everything
resumes.

`as_storage_fault` recognises them among the errors of SQLite, PostgreSQL and the OS, and turns
them into the domain errors of service/errors.py; `STATUS` remembers, per process, the last write
that failed and whether one has succeeded since (what /readyz reports); `FaultLog` says what is
wrong once and then at a bounded rate, where a loop retries every fraction of a second.
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
    "storage is unreachable: the database server closed the connection or does not answer "
    "(a restart, an administrator's command, the network). Nothing of this change was saved; "
    "retry in a few seconds, and check the server (RNNLAB_DATABASE_URL) if it lasts"
)

# PostgreSQL's SQLSTATEs: disk_full ("could not extend file" too), read_only_sql_transaction
# (default_transaction_read_only, a hot standby), io_error.
POSTGRES_STATES = {"53100": StorageFull, "25006": StorageReadOnly, "58030": StorageFailing}
# Class 08 (connection exception) and the server's shutdowns: admin_shutdown (a restart,
# pg_terminate_backend), crash_shutdown, cannot_connect_now (starting up).
POSTGRES_GONE_STATES = ("08", "57P01", "57P02", "57P03")
# SQLite's result codes (their extended codes start with the same name).
SQLITE_CODES = {
    "SQLITE_FULL": StorageFull,
    "SQLITE_READONLY": StorageReadOnly,
    "SQLITE_IOERR": StorageFailing,
}
SQLITE_MESSAGES = {
    "database or disk is full": StorageFull,
    "attempt to write a readonly database": StorageReadOnly,
    "disk i/o error": StorageFailing,
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
    at: float  # time.monotonic()


class StorageStatus:
    """This process's last storage fault, until a probe write succeeds (the supervisor's,
    every RETRY_SECONDS of rnnlab.service.jobs.storage_retry while there is one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None

    def failed(self, error: StorageUnavailable) -> None:
        with self._lock:
            self._fault = Fault(error, time.monotonic())

    def succeeded(self) -> None:
        if self._fault is not None:  # the common case reads one attribute and takes no lock
            with self._lock:
                self._fault = None

    def fault(self) -> Fault | None:
        return self._fault


STATUS = StorageStatus()


def describe(fault: Fault) -> str:
    """For /readyz: the fault, how long ago it was last seen, and what to do."""
    age = time.monotonic() - fault.at
    return f"{fault.error.detail} (last write refused {age:.0f} s ago: {fault.error.reason})"


class FaultLog:
    """Logs a storage fault once with what to do, then at most every `every` seconds while it
    lasts, and once more when writes succeed again: a loop that retries every fraction of a
    second must not print a traceback each time."""

    def __init__(self, log: logging.Logger, what: str, every: float = 60.0) -> None:
        self.log = log
        self.what = what  # "job 7 waits to go back to the queue", "the supervisor's requeue"
        self.every = every
        self._since: float | None = None
        self._said_at = 0.0
        self._refused = 0

    def failed(self, error: StorageUnavailable) -> None:
        now = time.monotonic()
        self._refused += 1
        if self._since is None:
            self._since, self._said_at, self._refused = now, now, 0
            self.log.error("%s: %s [%s]; retrying", self.what, error.detail, error.reason)
        elif now - self._said_at >= self.every:
            self._said_at = now
            self.log.warning(
                "%s: still %s (%d writes refused in %.0f s) [%s]",
                self.what,
                type(error).__name__,
                self._refused,
                now - self._since,
                error.reason,
            )

    @property
    def active(self) -> bool:
        """Whether the last write it heard of was refused."""
        return self._since is not None

    def succeeded(self) -> None:
        if self._since is not None:
            self.log.warning(
                "%s: storage writable again after %.1f s", self.what, time.monotonic() - self._since
            )
            self._since = None
