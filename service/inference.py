"""Serving: find the model a request means, load its weights once, and keep it in an LRU cache.

The hot path of GET /predict is `ModelCache.cached`: it answers "which model, already loaded?"
without an ORM session and without the threadpool (see `NewestModels`); anything else (a model
not loaded yet, an unknown id, a database other than SQLite) takes the slow path,
`resolve_and_load`, which the routes run in the threadpool.
"""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from models.binary_addition import BinaryAdder
from models.next_word import NextWordPredictor
from models.text import Dictionary
from service.batching import NextWordBatcher
from service.corpora import load_dictionary
from service.db import Database
from service.errors import InvalidInput, ModelCorrupted, NotFound, model_not_found
from service.settings import DEFAULT_ANSWER_CACHE_SIZE
from service.tables import TrainedModel
from service.tasks import BINARY_ADDITION, NEXT_WORD, make_config
from service.weights import CorruptBlob, npz_to_arrays

log = logging.getLogger(__name__)

TASK_QUERIES = {BINARY_ADDITION: "a and b", NEXT_WORD: "text"}
SUM_TABLE_MAX_PAIRS = 2**16  # binary_dim <= 9: every answer is computed once, at load


@dataclass(frozen=True)
class SumTable:
    """Every answer of a binary-addition model, from one batched forward at load time.

    A request is then an index instead of a forward pass (~200 us of numpy for one pair): at
    binary_dim 8 that is 16,384 answers, ~0.7 MB. They come from the same pass over the tree
    of bit prefixes (`BinaryAdder.predict_all_pairs`) that computed the model's final_accuracy.
    """

    high: int  # operands lie in 0..high-1
    sums: NDArray[np.int64]  # (high * high,)
    bits: NDArray[np.uint8]  # (high * high, T), most significant first
    probabilities: NDArray[np.float32]  # (high * high, T), most significant first

    @classmethod
    def build(cls, adder: BinaryAdder) -> SumTable | None:
        high = adder.config.max_operand + 1
        if high * high > SUM_TABLE_MAX_PAIRS:
            return None
        table = cls(high, *adder.predict_all_pairs())
        adder.predict(0, 0)  # a one-pair forward, so that the layers drop the big batch's caches
        return table

    def answer(self, a: int, b: int) -> tuple[int, list[int], list[float]] | None:
        """(sum, bits, probabilities) of a + b; None when an operand is out of range."""
        if not (0 <= a < self.high and 0 <= b < self.high):
            return None
        i = a * self.high + b
        return int(self.sums[i]), self.bits[i].tolist(), self.probabilities[i].tolist()


@dataclass
class CacheStats:
    """Lookups of a cache, for /metrics."""

    hits: int = 0
    misses: int = 0


class AnswerCache:
    """The encoded /predict bodies of a next-word model's most recent queries, by (text, k).

    A model's answers never change (its weights are fixed), so a repeated query can skip the
    pre-processing, the batched pass and the JSON: it is then served like a binary answer. It
    also keeps a repeated query's answer identical to the bit while it stays here (a batched
    pass may differ from a lone one in the last bits, see `NextWordPredictor.next_logits`).
    Used on the event loop only, hence no lock. At most `capacity` entries of ~0.5 kB each.
    """

    def __init__(self, capacity: int, stats: CacheStats | None = None) -> None:
        self.capacity = capacity
        self.stats = stats or CacheStats()  # shared by every model's cache
        self._bodies: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def get(self, text: str, k: int) -> bytes | None:
        body = self._bodies.get((text, k))
        if body is not None:
            self._bodies.move_to_end((text, k))
            self.stats.hits += 1
        else:
            self.stats.misses += 1
        return body

    def put(self, text: str, k: int, body: bytes) -> None:
        if self.capacity == 0:
            return
        self._bodies[text, k] = body
        if len(self._bodies) > self.capacity:
            self._bodies.popitem(last=False)

    def __len__(self) -> int:
        return len(self._bodies)


@dataclass(frozen=True)
class LoadedModel:
    model_id: int
    task: str
    config: Any
    predictor: Any  # BinaryAdder or NextWordPredictor
    dictionary: Dictionary | None = None
    sum_table: SumTable | None = None
    # A NextWordPredictor carries its recurrent state between calls: one request at a time.
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    batcher: NextWordBatcher | None = field(default=None, compare=False, repr=False)
    answers: AnswerCache | None = field(default=None, compare=False, repr=False)  # next word

    # /predict bodies of sum-table pairs, encoded once each: at most 16,384 x ~250 bytes
    sum_bodies: dict[tuple[int, int], bytes] = field(
        default_factory=dict, compare=False, repr=False
    )

    def predict_sum(self, a: int, b: int) -> tuple[int, list[int], list[float]]:
        """a + b from the table when there is one; ValueError (naming the range) when invalid."""
        if self.sum_table is not None:
            answer = self.sum_table.answer(a, b)
            if answer is not None:
                return answer
        return self.predictor.predict(a, b)  # type: ignore[no-any-return]

    def sum_body(self, a: int, b: int) -> bytes:
        """The JSON of BinaryAdditionPrediction for a + b; ValueError when invalid.

        A table pair's body is kept once encoded: json.dumps of its eight probabilities was
        ~10 of the ~90 us a binary answer costs in process.
        """
        body = self.sum_bodies.get((a, b))
        if body is None:
            total, bits, probabilities = self.predict_sum(a, b)
            answer = {"sum": total, "bits": bits, "probabilities": probabilities}
            body = json.dumps({**answer, "model_id": self.model_id}, separators=(",", ":")).encode()
            if self.sum_table is not None and self.sum_table.answer(a, b) is not None:
                self.sum_bodies[a, b] = body
        return body


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
    Each next-word model keeps up to `answers_per_model` encoded answers (`AnswerCache`)."""

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


def wrong_task(model_id: int, found_task: str, task: str) -> InvalidInput:
    return InvalidInput(
        f"model {model_id} is a {found_task} model; this request ({TASK_QUERIES[task]}) "
        f"needs a {task} model: pass one of those, or query with {TASK_QUERIES[found_task]}"
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
            raise NotFound(
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
    config = make_config(row.task, row.hyperparams)
    if row.task == BINARY_ADDITION:
        adder = BinaryAdder.from_weights(config, weights)
        return LoadedModel(model_id, row.task, config, adder, sum_table=SumTable.build(adder))
    assert row.corpus_id is not None
    dictionary = load_dictionary(session, row.corpus_id)
    predictor = NextWordPredictor.from_weights(config, weights, dictionary.size)
    lock = threading.Lock()
    batcher = NextWordBatcher(predictor, lock)
    return LoadedModel(
        model_id,
        row.task,
        config,
        predictor,
        dictionary,
        lock=lock,
        batcher=batcher,
        answers=AnswerCache(answers, answer_stats),
    )
