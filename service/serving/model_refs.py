"""Which model a request means: `?model=12` (an id), `?model=champion` (an alias of the task),
or nothing: the task's `default` alias when set, else its newest model.

`ModelRefs.cached` answers from a snapshot of the catalog (the newest model of each task, every
alias), read again only when the catalog has changed: triggers count every change to `models`
and `model_aliases` in the one row of `model_catalog`, in the writer's own transaction
(migration 0006), and one read of that row on a private connection says whether the snapshot
is current. A model is seen by the first request after its job's success commits, whichever
process or machine wrote it. The same refresh drops deleted models from the model cache, so
that a deletion made by any process is never answered from memory.

While the database does not answer, the last snapshot stands (nothing can change the catalog
meanwhile), so that /predict keeps answering from the models in memory; the check is tried
again at most every OUTAGE_RETRY_SECONDS, not by every request.

On SQLite the check is a read of a local file, made on the event loop; on PostgreSQL it is a
round trip, made in the threadpool (a network call never blocks the event loop), still far
cheaper than an ORM session and two queries (bench/predict_backends.py compares the two databases).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from rnnlab.service.catalog.aliases import DEFAULT_ALIAS, alias_not_found, alias_target
from rnnlab.service.errors import InvalidInput, NoModelYet, StorageUnreachable
from rnnlab.service.schemas.experiments import ALIAS_PATTERN
from rnnlab.service.schemas.ids import ID_PATTERN, MAX_ID
from rnnlab.service.serving.loaded import LoadedModel
from rnnlab.service.serving.model_cache import ModelCache, load
from rnnlab.service.store.db import Database
from rnnlab.service.store.faults import STATUS, UNREACHABLE, as_storage_fault
from rnnlab.service.store.tables import TrainedModel

log = logging.getLogger(__name__)

ModelRef = int | str | None  # an id, an alias, or nothing
SelectedBy = Literal["id", "alias", "default_alias", "newest"]
CONNECT_TIMEOUT_SECONDS = 5
OUTAGE_RETRY_SECONDS = 0.5
MODEL_REF_PATTERN = rf"^({ID_PATTERN[1:-1]}|{ALIAS_PATTERN[1:-1]})$"
MODEL_REF_DESCRIPTION = (
    "A model id or an alias of the task (e.g. `champion`); default: the task's `default` "
    "alias when set, else its newest model"
)


@dataclass(frozen=True)
class Resolved:
    model_id: int
    selected_by: SelectedBy


def parse_model_ref(value: str | None) -> ModelRef:
    """`?model=` as an id or an alias; 422 when it is neither (or an id out of range)."""
    if value is None:
        return None
    if value[:1].isdigit():  # aliases start with a letter
        if re.fullmatch(ID_PATTERN, value) is None or int(value) > MAX_ID:
            raise InvalidInput(
                f"model must be an id in 1..{MAX_ID}, in plain decimal digits (e.g. 10), or an "
                f"alias; got {value!r}"
            )
        return int(value)
    return value


def resolve(session: Session, task: str, ref: ModelRef) -> Resolved:
    """The model `ref` means for `task`, from the database; 404 when there is none.

    An explicit id is returned as is: its task is checked when it is loaded.
    """
    if isinstance(ref, int):
        return Resolved(ref, "id")
    if isinstance(ref, str):
        target = alias_target(session, task, ref)
        if target is None:
            raise alias_not_found(task, ref)
        return Resolved(target, "alias")
    target = alias_target(session, task, DEFAULT_ALIAS)
    if target is not None:
        return Resolved(target, "default_alias")
    newest = session.scalar(
        select(TrainedModel.id)
        .where(TrainedModel.task == task)
        .order_by(TrainedModel.id.desc())
        .limit(1)
    )
    if newest is None:
        raise NoModelYet(
            f"no {task} model is trained yet: POST /train "
            f'{{"task": "{task}", "hyperparams": {{}}}} first, then retry'
        )
    return Resolved(newest, "newest")


def resolve_and_load(
    db: Database, cache: ModelCache, task: str, ref: ModelRef
) -> tuple[LoadedModel, SelectedBy]:
    """The slow path: ask the database which model, load it into the cache. Blocking."""
    with db.read() as session:
        resolved = resolve(session, task, ref)
    return load(db, cache, task, resolved.model_id), resolved.selected_by


class SQLiteCatalog:
    """A private connection to a SQLite file, outside the ORM."""

    on_event_loop = True  # a read of a local file
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: str) -> None:
        # Reads in WAL mode never wait for a writer; the short timeout only guards odd states.
        self._connection = sqlite3.connect(
            path, timeout=0.1, isolation_level=None, check_same_thread=False
        )

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        return self._connection.execute(sql.replace("%s", "?"), params).fetchall()


class PostgresCatalog:
    """A private autocommit connection to PostgreSQL, outside the ORM, opened again after an
    error (a restarted server)."""

    on_event_loop = False  # a network round trip

    def __init__(self, url: str) -> None:
        import psycopg  # the postgres extra: only a PostgreSQL deployment has it

        self._psycopg = psycopg
        self.errors: tuple[type[Exception], ...] = (psycopg.Error, StorageUnreachable)
        self._url = url
        self._connection: Any = None

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if self._connection is None:
            try:
                self._connection = self._psycopg.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
                )
            except self._psycopg.OperationalError as error:  # no server let it connect
                reason = str(error).strip().splitlines()[0][:200]
                raise StorageUnreachable(UNREACHABLE, reason) from error
        try:
            return self._connection.execute(sql, params).fetchall()
        except self._psycopg.Error:
            self._connection.close()
            self._connection = None
            raise


class ModelRefs:
    """A snapshot of the newest models and the aliases, current as of `model_catalog`."""

    def __init__(self, catalog: SQLiteCatalog | PostgresCatalog, cache: ModelCache) -> None:
        self._catalog = catalog
        self.on_event_loop = catalog.on_event_loop
        self._cache = cache
        self._lock = threading.Lock()
        self._version: int | None = None
        self._newest: dict[str, int] = {}
        self._aliases: dict[tuple[str, str], int] = {}
        self._failing_since: float | None = None  # time.monotonic() of the first failed check
        self._next_check = 0.0

    @classmethod
    def for_database(cls, db: Database, cache: ModelCache) -> ModelRefs | None:
        """One for a file-backed SQLite database or PostgreSQL; None for anything else (an
        in-memory database: each connection would see a database of its own)."""
        url = make_url(db.url)
        backend = url.get_backend_name()
        if backend == "postgresql":
            libpq_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
            return cls(PostgresCatalog(libpq_url), cache)
        if backend != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return cls(SQLiteCatalog(url.database), cache)

    def cached(self, task: str, ref: ModelRef) -> Resolved | None:
        """`resolve` from the snapshot; None when it cannot tell (the caller then resolves)."""
        if not self._current():
            return None
        if isinstance(ref, int):
            return Resolved(ref, "id")
        if isinstance(ref, str):
            target = self._aliases.get((task, ref))
            return None if target is None else Resolved(target, "alias")
        target = self._aliases.get((task, DEFAULT_ALIAS))
        if target is not None:
            return Resolved(target, "default_alias")
        newest = self._newest.get(task)
        return None if newest is None else Resolved(newest, "newest")

    def _current(self) -> bool:
        """Whether the snapshot can answer: refreshed now, or the last one while the database
        does not answer."""
        now = time.monotonic()
        if self._failing_since is not None and now < self._next_check:
            return self._version is not None
        try:
            self._refresh()  # also for an id: it drops deleted models from the cache
        except self._catalog.errors as error:
            fault = as_storage_fault(error)
            if fault is not None:
                STATUS.failed(fault)  # which says so in the log, once for the outage
            elif self._failing_since is None:
                log.warning("model lookup failed (%s); serving the last catalog read", error)
            if self._failing_since is None:
                self._failing_since = now
            self._next_check = now + OUTAGE_RETRY_SECONDS
            return self._version is not None
        self._failing_since = None
        return True

    def _refresh(self) -> None:
        with self._lock:
            run = self._catalog.rows
            ((version,),) = run("SELECT version FROM model_catalog WHERE id = 1")
            if version == self._version:
                return
            self._newest = dict(run("SELECT task, max(id) FROM models GROUP BY task"))
            self._aliases = {
                (task, alias): model_id
                for task, alias, model_id in run("SELECT task, alias, model_id FROM model_aliases")
            }
            loaded = self._cache.loaded_ids()
            if loaded:
                marks = ",".join(["%s"] * len(loaded))
                rows = run(f"SELECT id FROM models WHERE id IN ({marks})", loaded)
                for model_id in set(loaded) - {row[0] for row in rows}:
                    self._cache.evict(model_id)
            self._version = version
