"""The serving cache: least-recently-used eviction, and loaded models kept out of the collector."""

from __future__ import annotations

import asyncio
import gc
import json

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition import BinaryAdder, BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.serving import SumAnswerer
from rnnlab.models.tasks.serving import Answerer
from rnnlab.service.errors import InvalidInput
from rnnlab.service.serving.answering import Serving
from rnnlab.service.serving.answers import AnswerCache
from rnnlab.service.serving.loaded import LoadedModel
from rnnlab.service.serving.model_cache import ModelCache
from rnnlab.service.serving.registry import SERVINGS


class Listed(Answerer):
    def __init__(self) -> None:
        self.rows = [{"w": i} for i in range(50)]


def loaded(model_id: int) -> LoadedModel:
    return LoadedModel.of(model_id, "next_word", Listed(), AnswerCache(4))


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_least_recently_used_model_is_evicted():
    cache = ModelCache(capacity=2)
    for model_id in (1, 2):
        cache.get(model_id, lambda model_id=model_id: loaded(model_id))
    cache.peek(1)  # 2 is now the least recently used
    cache.get(3, lambda: loaded(3))
    assert cache.peek(2) is None
    assert cache.peek(1) is not None and cache.peek(3) is not None
    loads = []
    cache.get(1, lambda: loads.append(1) or loaded(1))
    assert loads == []  # a hit never loads


def test_a_loaded_model_is_frozen_out_of_the_full_collections(unfrozen):
    cache = ModelCache(capacity=1)
    before = gc.get_freeze_count()
    model = cache.get(7, lambda: loaded(7))
    assert gc.get_freeze_count() > before
    assert gc.is_tracked(
        model.answerer.rows
    )  # still tracked, only moved to the permanent generation


def test_a_sum_is_encoded_once_per_table_pair():
    config = BinaryAdditionConfig()
    adder = BinaryAdder(config, BinaryAdditionNet(config, np.random.default_rng(0)))
    answerer = SumAnswerer(adder)
    model = LoadedModel.of(3, "binary_addition", answerer, AnswerCache(answerer.cache_capacity(4)))
    serving: Serving = SERVINGS["binary_addition"]

    def ask(a: int, b: int) -> bytes:
        return asyncio.run(serving.predict(model, {"a": a, "b": b}))

    body = ask(37, 45)
    total, bits, probabilities = adder.predict(37, 45)
    expected = {"sum": total, "bits": bits, "probabilities": probabilities, "model_id": 3}
    assert json.loads(body) == expected
    assert ask(37, 45) is body  # kept, not encoded again
    assert model.answers is not None and model.answers.capacity == 2**14  # the whole table
    with pytest.raises(InvalidInput, match=r"0\.\.127"):
        ask(200, 45)
    assert len(model.answers) == 1


def test_the_answer_cache_keeps_the_most_recent_queries():
    answers = AnswerCache(capacity=2)
    answers.put(("the cat", 5), b"1")
    answers.put(("the dog", 5), b"2")
    assert answers.get(("the cat", 5)) == b"1"  # now the most recent
    answers.put(("a bird", 5), b"3")  # evicts "the dog", the least recently used
    assert answers.get(("the dog", 5)) is None
    assert (answers.get(("the cat", 5)), answers.get(("a bird", 5))) == (b"1", b"3")
    assert answers.get(("the cat", 4)) is None  # k is part of the key
    none = AnswerCache(capacity=0)
    none.put(("the cat", 5), b"1")
    assert none.get(("the cat", 5)) is None and len(none) == 0
