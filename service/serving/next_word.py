"""Serving a next-word model: /predict?text=...&k=5 and /generate.

A short context joins the other requests of this turn of the event loop in one batched pass
(service/serving/batching.py), and a repeated (text, k) is answered from the model's
`AnswerCache`; a long context, and every /generate, runs in the threadpool so that it never
holds up the loop.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rnnlab.models.text import UNKNOWN_TOKEN, Dictionary, preprocess
from rnnlab.service.errors import InvalidInput
from rnnlab.service.schemas.resources import Generation
from rnnlab.service.serving.answers import AnswerCache, CacheStats
from rnnlab.service.serving.base import Serving
from rnnlab.service.serving.batching import NextWordBatcher
from rnnlab.service.serving.loaded import LoadedModel

# A context up to this long is read on the event loop (well under a millisecond); a longer one
# goes to the threadpool so that it never holds up the other requests.
INLINE_TEXT_CHARS = 1_000


class NextWordServing(Serving):
    task = "next_word"
    query = ("text",)
    example = "text=the cat"

    def load(
        self,
        model_id: int,
        config: Any,
        predictor: Any,
        dictionary: Dictionary | None,
        answers_per_model: int,
        answer_stats: CacheStats | None = None,
    ) -> LoadedModel:
        lock = threading.Lock()
        return LoadedModel(
            model_id,
            self.task,
            config,
            predictor,
            dictionary,
            lock=lock,
            batcher=NextWordBatcher(predictor, lock),
            answers=AnswerCache(answers_per_model, answer_stats),
        )

    async def predict(self, loaded: LoadedModel, query: Mapping[str, Any]) -> bytes:
        """A NextWordPrediction: from the model's answer cache when this (text, k) was asked
        lately, else computed (`_next_word_answer`) and kept there."""
        assert loaded.dictionary is not None and loaded.answers is not None
        text, k = query["text"], query["k"]
        body = loaded.answers.get(text, k)
        if body is None:
            vocabulary = loaded.dictionary.size
            if k > vocabulary:
                raise InvalidInput(
                    f"k must be in 1..{vocabulary} (the vocabulary of model {loaded.model_id})"
                )
            body = bytes(JSONResponse(await _next_word_answer(loaded, text, k)).body)
            if len(text) <= INLINE_TEXT_CHARS:  # a long key is not worth its memory
                loaded.answers.put(text, k, body)
        return body


def _locked(function, loaded: LoadedModel, *args):  # type: ignore[no-untyped-def]
    with loaded.lock:
        return function(loaded, *args)


def _context(loaded: LoadedModel, text: str) -> tuple[list[str], list[int], list[str]]:
    words = preprocess(text)
    if not words:
        raise InvalidInput(
            "the text has no word left after pre-processing (letters a-z, apostrophes and "
            "hyphens are kept): give at least one English word"
        )
    assert loaded.dictionary is not None
    ids = [loaded.dictionary.id_of(word) for word in words]
    unknown = [word for word, i in zip(words, ids, strict=True) if i == 0]
    return words, ids, unknown


async def _next_word_answer(loaded: LoadedModel, text: str, k: int) -> dict[str, Any]:
    """The fields of NextWordPrediction. A short context joins the other requests of this turn
    of the event loop in one batched pass (`NextWordBatcher`); a long one runs alone in a
    thread, so that it never holds up the loop."""
    assert loaded.dictionary is not None and loaded.batcher is not None
    words, ids, unknown = _context(loaded, text)
    if len(text) <= INLINE_TEXT_CHARS:
        top, probabilities = await loaded.batcher.most_likely(ids, k)
    else:
        top, probabilities = await run_in_threadpool(
            _locked, lambda loaded: loaded.predictor.most_likely(ids, k), loaded
        )
    dictionary_words = loaded.dictionary.words
    return {
        "predictions": [
            {
                "word": dictionary_words[i],
                "probability": p,
                "unknown": dictionary_words[i] == UNKNOWN_TOKEN,
            }
            for i, p in zip(top.tolist(), probabilities.tolist(), strict=True)
        ],
        "model_id": loaded.model_id,
        "context": words,
        "unknown_words": unknown,
    }


async def generate(
    loaded: LoadedModel,
    text: str,
    words: int,
    temperature: float,
    top_k: int | None,
    seed: int | None,
) -> Generation:
    """Sample a continuation of `text`; up to 500 words: always in the threadpool.

    It runs on a copy of the predictor with state of its own, so it takes no lock: a flood of
    long generations never holds what /predict on the same model needs (it held the model's
    lock for a whole generation, and a /predict waited seconds behind it).
    """
    return await run_in_threadpool(_generate, loaded, text, words, temperature, top_k, seed)


def _generate(
    loaded: LoadedModel,
    text: str,
    words: int,
    temperature: float,
    top_k: int | None,
    seed: int | None,
) -> Generation:
    assert loaded.dictionary is not None
    if top_k is not None and top_k > loaded.dictionary.size:
        raise InvalidInput(
            f"top_k must be in 1..{loaded.dictionary.size} (the vocabulary of "
            f"model {loaded.model_id})"
        )
    context, ids, unknown = _context(loaded, text)
    # The unknown token stands for many rare words: as generated text it would read "<unk>".
    unknown_id = loaded.dictionary.id_of(UNKNOWN_TOKEN)
    generated = loaded.predictor.with_own_state().generate(
        ids, words, temperature, top_k, np.random.default_rng(seed), banned=(unknown_id,)
    )
    continuation = loaded.dictionary.decode(generated)
    return Generation(
        text=" ".join(context + continuation),
        continuation=continuation,
        model_id=loaded.model_id,
        unknown_words=unknown,
    )
