"""Serving: find the model a request means, load its weights once, and keep it in an LRU cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.binary_addition import BinaryAdder
from models.next_word import NextWordPredictor
from models.text import Dictionary
from service.corpora import load_dictionary
from service.errors import InvalidInput, ModelCorrupted, NotFound, model_not_found
from service.tables import TrainedModel
from service.tasks import BINARY_ADDITION, NEXT_WORD, make_config
from service.weights import CorruptBlob, npz_to_arrays

TASK_QUERIES = {BINARY_ADDITION: "a and b", NEXT_WORD: "text"}


@dataclass(frozen=True)
class LoadedModel:
    model_id: int
    task: str
    config: Any
    predictor: Any  # BinaryAdder or NextWordPredictor
    dictionary: Dictionary | None = None


class ModelCache:
    """At most `capacity` loaded models, least recently used evicted first; thread-safe."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_id: int, load: Callable[[], LoadedModel]) -> LoadedModel:
        with self._lock:
            if model_id in self._items:
                self._items.move_to_end(model_id)
                return self._items[model_id]
        loaded = load()  # outside the lock: a slow load must not block cached answers
        with self._lock:
            self._items[model_id] = loaded
            self._items.move_to_end(model_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return loaded

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def resolve_model_id(session: Session, task: str, model_id: int | None) -> int:
    """The explicit model (checked to be of `task`), else the newest model of `task`."""
    if model_id is None:
        newest = session.scalar(
            select(TrainedModel.id).where(TrainedModel.task == task)
            .order_by(TrainedModel.id.desc()).limit(1)
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
        raise InvalidInput(
            f"model {model_id} is a {found_task} model; this request ({TASK_QUERIES[task]}) "
            f"needs a {task} model: pass one of those, or query with {TASK_QUERIES[found_task]}"
        )
    return model_id


def load_model(session: Session, model_id: int) -> LoadedModel:
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
        return LoadedModel(model_id, row.task, config, BinaryAdder.from_weights(config, weights))
    assert row.corpus_id is not None
    dictionary = load_dictionary(session, row.corpus_id)
    predictor = NextWordPredictor.from_weights(config, weights, dictionary.size)
    return LoadedModel(model_id, row.task, config, predictor, dictionary)
