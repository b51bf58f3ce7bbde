"""Cheap looks at whether the database can be written: for /readyz (a few system calls, no
write), for the supervisor while a fault lasts (one tiny committed write), and at start-up
(a service that cannot write its database is refused then, not found out at shutdown)."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from rnnlab.service.errors import StorageFull, StorageReadOnly, StorageUnavailable
from rnnlab.service.store.db import Database
from rnnlab.service.store.faults import FULL, READ_ONLY, STATUS, as_storage_fault, describe

log = logging.getLogger(__name__)

# Below this, the file system is full for the service's purposes: one checkpoint of a small
# next-word job is about that size, and SQLite needs room to grow its WAL.
FULL_BELOW_BYTES = 2**20
START_PROBE_BYTES = 64 * 1024
UNWRITABLE_ERRNOS = (errno.EACCES, errno.EPERM)


def storage_reasons(db: Database) -> list[str]:
    """Why writes fail now, for /readyz: the SQLite file's file system and permissions, a
    read-only PostgreSQL, or the last write this process saw refused (until a probe succeeds)."""
    reasons = []
    if db.file is not None:
        reasons += _sqlite_file_reasons(db.file)
    else:
        reasons += _postgres_reasons(db)
    fault = STATUS.fault()
    if fault is not None and not reasons:
        reasons.append(describe(fault))
    return reasons


def _sqlite_file_reasons(file: Path) -> list[str]:
    try:
        stats = os.statvfs(file.parent)
    except OSError:
        return []  # no such directory yet: the database reasons say what matters
    if stats.f_flag & os.ST_RDONLY:
        return [f"{READ_ONLY} (the data directory's file system is mounted read-only)"]
    for path in (file, Path(f"{file}-wal"), Path(f"{file}-shm"), file.parent):
        if not os.access(path, os.W_OK) and path.exists():
            return [f"{READ_ONLY} ({_role(file, path)} cannot be written)"]
    # root may fill the blocks reserved for it (ext4's 5%): count them too when it runs as root
    blocks = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail
    free = blocks * stats.f_frsize
    if free < FULL_BELOW_BYTES:
        return [f"{FULL} ({free} bytes free on the data directory's file system)"]
    return []


def _role(file: Path, path: Path) -> str:
    if path == file.parent:
        return "the data directory"
    return "the database file" if path == file else f"the database's {path.name[-3:]} file"


def _postgres_reasons(db: Database) -> list[str]:
    try:
        with db.read() as session:
            read_only = session.scalar(text("SELECT current_setting('transaction_read_only')"))
    except (SQLAlchemyError, StorageUnavailable):
        return []  # unreachable: the database reasons say so
    if read_only == "on":
        return [
            f"{READ_ONLY} (new transactions are read-only: default_transaction_read_only, "
            "or a standby server)"
        ]
    return []


def probe_write(db: Database) -> None:
    """One tiny committed write (the schema's version row, rewritten as it is). Its success
    clears the fault /readyz reports; a storage fault raises StorageUnavailable."""
    with db.write() as session:  # whose success clears STATUS
        session.execute(text("UPDATE alembic_version SET version_num = version_num"))


def refuse_unwritable_storage(db: Database) -> None:
    """Raise StorageUnavailable, saying what cannot be written, when the service could not
    write its database: a read-only data directory, an immutable SQLite file, a read-only
    PostgreSQL database. A full one only warns: the service starts to serve what it has."""
    if db.file is not None:
        _write_a_file_in(db.file.parent)
        for path in (db.file, Path(f"{db.file}-wal"), Path(f"{db.file}-shm")):
            if path.exists() and not os.access(path, os.W_OK):
                raise StorageReadOnly(READ_ONLY, f"{_role(db.file, path)} cannot be written")
    else:
        reasons = _postgres_reasons(db)
        if reasons:
            raise StorageReadOnly(READ_ONLY, "the PostgreSQL database is read-only")


def _write_a_file_in(directory: Path) -> None:
    """Create, fill, sync and remove a small file: what SQLite does to its WAL."""
    probe = directory / f".rnnlab-write-probe-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as handle:
            handle.write(b"\0" * START_PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        fault = as_storage_fault(error)
        if fault is None and error.errno in UNWRITABLE_ERRNOS:
            fault = StorageReadOnly(READ_ONLY, error.strerror or "")
        if fault is None:
            raise
        if isinstance(fault, StorageFull):  # reads still work; /readyz and 503s say the rest
            log.warning("the data directory is full: %s", fault.detail)
            return
        raise type(fault)(fault.detail, f"the data directory: {error.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
