"""Next-word requests that arrive together share one batched pass, and keep their own answers
(the same words; the probabilities to float32 rounding)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from rnnlab.models.tasks.next_word import NextWordConfig, NextWordPredictor
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.service.serving import batching
from rnnlab.service.serving.batching import Batcher

VOCAB = 300


@pytest.fixture(scope="module")
def predictor() -> NextWordPredictor:
    config = NextWordConfig(embedding_size=16, hidden_size=64)
    weights = NextWordModel(config, VOCAB, np.random.default_rng(3)).weights()
    return NextWordPredictor.from_weights(config, weights, VOCAB)


def contexts(count: int) -> list[list[int]]:
    rng = np.random.default_rng(count)
    return [rng.integers(0, VOCAB, int(rng.integers(1, 9))).tolist() for _ in range(count)]


def batcher_of(predictor: NextWordPredictor, lock: threading.Lock) -> Batcher:
    """A batcher over the predictor itself: each query an (ids, k), each answer its top k."""

    def answer_many(asked):  # type: ignore[no-untyped-def]
        return predictor.most_likely_many([ids for ids, _ in asked], [k for _, k in asked])

    return Batcher(answer_many, lock)


def assert_answers(predictor, asked, answers) -> None:  # type: ignore[no-untyped-def]
    for (ids, k), (top, probabilities) in zip(asked, answers, strict=True):
        expected_top, expected_probabilities = predictor.most_likely(ids, k)
        np.testing.assert_array_equal(top, expected_top)
        np.testing.assert_allclose(probabilities, expected_probabilities, rtol=1e-5)


def test_requests_of_one_turn_share_one_pass_and_keep_their_answers(predictor):
    batcher = batcher_of(predictor, threading.Lock())
    asked = [(ids, 1 + i % 7) for i, ids in enumerate(contexts(10))]

    async def ask_together():
        return await asyncio.gather(*(batcher.answer((ids, k)) for ids, k in asked))

    answers = asyncio.run(ask_together())
    assert (batcher.passes, batcher.answered) == (1, 10)
    assert_answers(predictor, asked, answers)


def test_a_crowd_is_cut_into_passes_of_at_most_max_batch(predictor):
    batcher = batcher_of(predictor, threading.Lock())
    asked = [(ids, 3) for ids in contexts(batching.MAX_BATCH + 5)]

    async def ask_together():
        return await asyncio.gather(*(batcher.answer((ids, k)) for ids, k in asked))

    answers = asyncio.run(ask_together())
    assert (batcher.passes, batcher.answered) == (2, batching.MAX_BATCH + 5)
    assert_answers(predictor, asked, answers)


def test_a_model_busy_in_a_thread_answers_once_it_is_free(predictor):
    lock = threading.Lock()
    batcher = batcher_of(predictor, lock)
    asked = [(ids, 2) for ids in contexts(3)]

    async def ask_while_busy():
        lock.acquire()  # as /generate does in a thread
        asking = asyncio.gather(*(batcher.answer((ids, k)) for ids, k in asked))
        await asyncio.sleep(0.05)
        assert not asking.done()  # waiting for the model, in a thread: the loop is free
        lock.release()
        return await asyncio.wait_for(asking, timeout=10)

    assert_answers(predictor, asked, asyncio.run(ask_while_busy()))


def test_a_request_that_goes_away_leaves_the_others_answered(predictor):
    batcher = batcher_of(predictor, threading.Lock())
    asked = [(ids, 4) for ids in contexts(3)]

    async def one_cancelled():
        tasks = [asyncio.ensure_future(batcher.answer((ids, k))) for ids, k in asked]
        await asyncio.sleep(0)  # each task is now waiting for the pass
        tasks[1].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[1], asyncio.CancelledError)
        return [done[0], done[2]]

    assert_answers(predictor, [asked[0], asked[2]], asyncio.run(one_cancelled()))


def test_a_failing_pass_fails_each_of_its_requests(predictor):
    batcher = batcher_of(predictor, threading.Lock())

    async def ask_bad():
        return await asyncio.gather(
            batcher.answer(([1, 2], 3)),
            batcher.answer(([VOCAB + 1], 3)),
            return_exceptions=True,
        )

    results = asyncio.run(ask_bad())
    assert all(isinstance(r, ValueError) for r in results)


def test_a_repeated_query_is_answered_from_the_answer_cache():
    """The second (text, k) skips the model; another k, or the same words written otherwise,
    is another query."""
    import itertools
    import json

    from rnnlab.models.tasks.next_word.serving import NextWordAnswerer
    from rnnlab.models.text import build_dictionary
    from rnnlab.service.serving.answers import AnswerCache
    from rnnlab.service.serving.loaded import LoadedModel
    from rnnlab.service.serving.registry import SERVINGS

    names = ["".join(p) for p in itertools.islice(itertools.product("abcdefgh", repeat=3), 299)]
    dictionary = build_dictionary(names * 4)
    config = NextWordConfig(embedding_size=16, hidden_size=64)
    weights = NextWordModel(config, dictionary.size, np.random.default_rng(3)).weights()
    predictor = NextWordPredictor.from_weights(config, weights, dictionary.size)
    serving = SERVINGS["next_word"]
    loaded = LoadedModel.of(9, "next_word", NextWordAnswerer(predictor, dictionary), AnswerCache(8))
    batcher = loaded.batcher
    assert batcher is not None and loaded.answers is not None

    def ask(text: str, k: int) -> bytes:
        return asyncio.run(serving.predict(loaded, {"text": text, "k": k}))

    first = ask("aaa aab", 3)
    assert ask("aaa aab", 3) == first and batcher.answered == 1  # from the cache
    assert json.loads(first)["context"] == ["aaa", "aab"]
    assert len(json.loads(ask("aaa aab", 2))["predictions"]) == 2
    assert json.loads(ask("AAA aab", 3))["predictions"] == json.loads(first)["predictions"]
    assert batcher.answered == 3 and len(loaded.answers) == 3
