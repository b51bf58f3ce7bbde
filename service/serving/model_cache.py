"""The model cache: find the model a request means, load its weights once (through its task's
registry entry and serving adapter), and keep it in an LRU cache.

The hot path of GET /predict is `ModelCache.cached`: it answers "which model, already loaded?"
without an ORM session and without the threadpool (see `NewestModels`); anything else (a model
not loaded yet, an unknown id, a database other than SQLite) takes the slow path,
`resolve_and_load`, which the routes run in the threadpool.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from models.tasks import TASKS, Corpus
from models.text import Dictionary
from service.corpora import get_corpus
from service.db import Database
from service.errors import ModelCorrupted, NoModelYet, WrongTask, model_not_found
from service.serving.adapters import ADAPTERS
from service.serving.answers import AnswerCache, CacheStats
from service.serving.loaded import LoadedModel, SumTable
from service.settings import DEFAULT_ANSWER_CACHE_SIZE
from service.tables import TrainedModel
from service.weights import CorruptBlob, npz_to_arrays

log = logging.getLogger(__name__)


class NewestModels:
    """The newest model id of each task, read again only when the database has changed.

    `PRAGMA data_version` on one private SQLite connection changes whenever any other
    connection (a worker publishing a model, this process's writes) commits. Asking it costs a
    few microseconds, against ~0.3 ms for an ORM session and a query per request, and the first
    call after a worker's commit sees the new model: a job that shows `succeeded` has its model
    served by the very next request.
    """

    def __init__(self, path: str) -> None:
        # Reads in WAL mode never wait for a writer; the short timeout only guards odd states.
        self._connection = sqlite3.connect(
            path, timeout=0.1, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        self._version: int | None = None
        self._newest: dict[str, int] = {}

    @classmethod
    def for_database(cls, db: Database) -> NewestModels | None:
        """One for a file-backed SQLite database; None for anything else."""
        url = make_url(db.url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return cls(url.database)

    def get(self, task: str) -> int | None:
        """The newest model of `task`, None when there is none; sqlite3.Error on failure."""
        with self._lock:
            (version,) = self._connection.execute("PRAGMA data_version").fetchone()
            if version != self._version:
                rows = self._connection.execute("SELECT task, max(id) FROM models GROUP BY task")
                self._newest = dict(rows.fetchall())
                self._version = version
            return self._newest.get(task)


class ModelCache:
    """At most `capacity` loaded models, least recently used evicted first; thread-safe.
    Each next-word model keeps up to `answers_per_model` encoded answers (`AnswerCache`).

    An OrderedDict under a lock rather than cachetools.LRUCache: a hit, on every /predict, is
    one C-level move_to_end, where LRUCache's pure-Python bookkeeping was ~1.5x slower.
    """

    def __init__(
        self,
        capacity: int,
        newest: NewestModels | None = None,
        answers_per_model: int = DEFAULT_ANSWER_CACHE_SIZE,
    ) -> None:
        self.capacity = capacity
        self.answers_per_model = answers_per_model
        self._items: OrderedDict[int, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._newest = newest  # None: only the threadpool path knows the newest model
        # A request finds its model loaded (hit) or loads it (miss); the answers of every
        # next-word model count together.
        self.model_stats = CacheStats()
        self.answer_stats = CacheStats()

    def peek(self, model_id: int) -> LoadedModel | None:
        """The loaded model, or None; never loads."""
        with self._lock:
            loaded = self._items.get(model_id)
            if loaded is not None:
                self._items.move_to_end(model_id)
                self.model_stats.hits += 1
            return loaded

    def get(self, model_id: int, load: Callable[[], LoadedModel]) -> LoadedModel:
        loaded = self.peek(model_id)
        if loaded is not None:
            return loaded
        self.model_stats.misses += 1
        loaded = load()  # outside the lock: a slow load must not block cached answers
        # A loaded model (a next-word dictionary is thousands of strings) stays until evicted:
        # keep it out of the full collections, which pause the event loop (see app.lifespan).
        gc.freeze()
        with self._lock:
            self._items[model_id] = loaded
            self._items.move_to_end(model_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return loaded

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def cached(self, task: str, model_id: int | None) -> LoadedModel | None:
        """The model a request means if it is loaded, found without blocking I/O; else None.

        None sends the caller to `resolve_and_load` (in the threadpool), which also raises the
        404 of an unknown model. Safe to call on the event loop.
        """
        if model_id is None:
            model_id = self._newest_id(task)
            if model_id is None:
                return None
        loaded = self.peek(model_id)
        if loaded is not None and loaded.task != task:
            raise wrong_task(model_id, loaded.task, task)
        return loaded

    def _newest_id(self, task: str) -> int | None:
        if self._newest is None:
            return None  # not SQLite: the threadpool path asks the database
        try:
            return self._newest.get(task)
        except sqlite3.Error as error:
            log.warning("newest-model lookup failed (%s); using the slow path", error)
            return None


def resolve_and_load(
    db: Database, cache: ModelCache, task: str, model_id: int | None
) -> LoadedModel:
    """The slow path: ask the database which model, load it into the cache. Blocking."""
    with db.read() as session:
        resolved = resolve_model_id(session, task, model_id)
        return cache.get(
            resolved,
            lambda: load_model(session, resolved, cache.answers_per_model, cache.answer_stats),
        )


def wrong_task(model_id: int, found_task: str, task: str) -> WrongTask:
    return WrongTask(
        f"model {model_id} is a {found_task} model; this request ({ADAPTERS[task].asks}) "
        f"needs a {task} model: pass one of those, or query with {ADAPTERS[found_task].asks}"
    )


def resolve_model_id(session: Session, task: str, model_id: int | None) -> int:
    """The explicit model (checked to be of `task`), else the newest model of `task`."""
    if model_id is None:
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
        return newest
    found_task = session.scalar(select(TrainedModel.task).where(TrainedModel.id == model_id))
    if found_task is None:
        raise model_not_found(model_id)
    if found_task != task:
        raise wrong_task(model_id, found_task, task)
    return model_id


def load_model(
    session: Session,
    model_id: int,
    answers: int = DEFAULT_ANSWER_CACHE_SIZE,
    answer_stats: CacheStats | None = None,
) -> LoadedModel:
    row = session.get(TrainedModel, model_id)
    if row is None:
        raise model_not_found(model_id)
    try:
        weights = npz_to_arrays(row.weights, row.sha256)
    except CorruptBlob as error:
        raise ModelCorrupted(
            f"the weights of model {model_id} are corrupted ({error}): train it again "
            f"with POST /train"
        ) from error
    task = TASKS[row.task]
    config = task.make_config(row.hyperparams)
    dictionary, corpus = None, None
    if task.needs_corpus:
        assert row.corpus_id is not None
        stored = get_corpus(session, row.corpus_id)
        dictionary = Dictionary.from_json(stored.dictionary)
        corpus = Corpus(None, stored.tokens, dictionary.size)
    predictor = task.predictor(config, weights, corpus)
    return ADAPTERS[row.task].load(model_id, config, predictor, dictionary, answers, answer_stats)


__all__ = [
    "AnswerCache",
    "LoadedModel",
    "ModelCache",
    "NewestModels",
    "SumTable",
    "load_model",
    "resolve_and_load",
    "resolve_model_id",
]
