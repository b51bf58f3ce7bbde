"""The model cache: find the model a request means, load its weights once (through its task's
registry entry and its answerer), and keep it in an LRU cache.

The hot path of GET /predict is `ModelCache.cached`: "this model, already loaded?", without an
ORM session and without the threadpool (which model a request means: `service.model_refs`); a
model not loaded yet, or an unknown id, takes the slow path, `load`, which the routes run in
the threadpool.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.models.tasks import TASKS, Corpus
from rnnlab.models.text import Dictionary
from rnnlab.service.errors import ModelCorrupted, WrongTask, model_not_found
from rnnlab.service.serving.answers import AnswerCache, CacheStats
from rnnlab.service.serving.loaded import LoadedModel
from rnnlab.service.serving.registry import SERVINGS
from rnnlab.service.settings import DEFAULT_ANSWER_CACHE_SIZE as DEFAULT_SIZE
from rnnlab.service.store.blobs import CorruptBlob, npz_to_arrays
from rnnlab.service.store.corpora import get_corpus
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import TrainedModel

log = logging.getLogger(__name__)


class ModelCache:
    """At most `capacity` loaded models, least recently used evicted first; thread-safe.
    Each model keeps up to `answers_per_model` encoded answers (`AnswerCache`), or what its
    answerer asks for.

    An OrderedDict under a lock rather than cachetools.LRUCache: a hit, on every /predict, is
    one C-level move_to_end, where LRUCache's pure-Python bookkeeping is the slower.
    """

    def __init__(self, capacity: int, answers_per_model: int = DEFAULT_SIZE) -> None:
        self.capacity = capacity
        self.answers_per_model = answers_per_model
        self._items: OrderedDict[int, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        # A request finds its model loaded (hit) or loads it (miss); the answers of every
        # model count together.
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

    def evict(self, model_id: int) -> None:
        """Forget a model (it was deleted): the next request for its id asks the database."""
        with self._lock:
            self._items.pop(model_id, None)

    def loaded_ids(self) -> list[int]:
        with self._lock:
            return list(self._items)

    def cached(self, task: str, model_id: int) -> LoadedModel | None:
        """The model if it is loaded (checked to be of `task`), else None; never blocks on I/O.

        None sends the caller to `load` (in the threadpool), which also raises the 404 of an
        unknown model. Safe to call on the event loop.
        """
        loaded = self.peek(model_id)
        if loaded is not None and loaded.task != task:
            raise wrong_task(model_id, loaded.task, task)
        return loaded


def load(db: Database, cache: ModelCache, task: str, model_id: int) -> LoadedModel:
    """The slow path: check the model in the database and load it into the cache. Blocking."""
    with db.read() as session:
        found_task = session.scalar(select(TrainedModel.task).where(TrainedModel.id == model_id))
        if found_task is None:
            raise model_not_found(model_id)
        if found_task != task:
            raise wrong_task(model_id, found_task, task)
        return cache.get(model_id, lambda: load_model(session, model_id, cache))


def wrong_task(model_id: int, found_task: str, task: str) -> WrongTask:
    found = SERVINGS.get(found_task)
    instead = f"query with {found.asks}" if found is not None else "it is not served"
    return WrongTask(
        f"model {model_id} is a {found_task} model; this request ({SERVINGS[task].asks}) "
        f"needs a {task} model: pass one of those, or {instead}"
    )


def load_model(session: Session, model_id: int, cache: ModelCache | None = None) -> LoadedModel:
    """The model built from its stored weights by its task, ready to answer; the answer cache
    it gets is sized by `cache` (else the default) unless its answerer asks for another."""
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
    assert task.serving is not None  # the route asked for this task by its query
    config = task.make_config(row.hyperparams)
    dictionary, corpus = None, None
    if task.needs_corpus:
        assert row.corpus_id is not None
        stored = get_corpus(session, row.corpus_id)
        dictionary = Dictionary.from_json(stored.dictionary)
        corpus = Corpus(None, stored.tokens, dictionary.size)
    answerer = task.serving.answerer(task.predictor(config, weights, corpus), dictionary)
    size, stats = (cache.answers_per_model, cache.answer_stats) if cache else (DEFAULT_SIZE, None)
    answers = AnswerCache(answerer.cache_capacity(size), stats)
    return LoadedModel.of(model_id, row.task, answerer, answers)


__all__ = [
    "AnswerCache",
    "LoadedModel",
    "ModelCache",
    "load",
    "load_model",
]
