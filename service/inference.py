"""Serving: find the model a request means, load its weights once, and keep it in an LRU cache.

The hot path of GET /predict is `ModelCache.cached`: "this model, already loaded?", without an
ORM session and without the threadpool (which model a request means: `service.model_refs`); a
model not loaded yet, or an unknown id, takes the slow path, `load`, which the routes run in
the threadpool.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.binary_addition import BinaryAdder
from models.next_word import NextWordPredictor
from models.text import Dictionary
from service.batching import NextWordBatcher
from service.corpora import load_dictionary
from service.db import Database
from service.errors import InvalidInput, ModelCorrupted, model_not_found
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


class AnswerCache:
    """The encoded /predict bodies of a next-word model's most recent queries, by (text, k).

    A model's answers never change (its weights are fixed), so a repeated query can skip the
    pre-processing, the batched pass and the JSON: it is then served like a binary answer. It
    also keeps a repeated query's answer identical to the bit while it stays here (a batched
    pass may differ from a lone one in the last bits, see `NextWordPredictor.next_logits`).
    Used on the event loop only, hence no lock. At most `capacity` entries of ~0.5 kB each.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._bodies: OrderedDict[tuple[str, int], bytes] = OrderedDict()

    def get(self, text: str, k: int) -> bytes | None:
        body = self._bodies.get((text, k))
        if body is not None:
            self._bodies.move_to_end((text, k))
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


class ModelCache:
    """At most `capacity` loaded models, least recently used evicted first; thread-safe.
    Each next-word model keeps up to `answers_per_model` encoded answers (`AnswerCache`)."""

    def __init__(self, capacity: int, answers_per_model: int = DEFAULT_ANSWER_CACHE_SIZE) -> None:
        self.capacity = capacity
        self.answers_per_model = answers_per_model
        self._items: OrderedDict[int, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, model_id: int) -> LoadedModel | None:
        """The loaded model, or None; never loads."""
        with self._lock:
            loaded = self._items.get(model_id)
            if loaded is not None:
                self._items.move_to_end(model_id)
            return loaded

    def get(self, model_id: int, load: Callable[[], LoadedModel]) -> LoadedModel:
        loaded = self.peek(model_id)
        if loaded is not None:
            return loaded
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
        return cache.get(model_id, lambda: load_model(session, model_id, cache.answers_per_model))


def wrong_task(model_id: int, found_task: str, task: str) -> InvalidInput:
    return InvalidInput(
        f"model {model_id} is a {found_task} model; this request ({TASK_QUERIES[task]}) "
        f"needs a {task} model: pass one of those, or query with {TASK_QUERIES[found_task]}"
    )


def load_model(
    session: Session, model_id: int, answers: int = DEFAULT_ANSWER_CACHE_SIZE
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
        answers=AnswerCache(answers),
    )
