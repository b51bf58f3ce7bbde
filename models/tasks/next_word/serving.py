"""Answering from a trained next-word model: GET /predict?text=the cat&k=5 (the k most likely
next words) and GET /generate (a sampled continuation).

A short context is cheap enough for the service's event loop, and several of them share one
batched pass (`NextWordPredictor.most_likely_many`); a long one runs alone in a thread, as does
every generation. A repeated short (text, k) is worth keeping encoded: the model's answers never
change, and a kept answer is identical to the bit (a batched pass may differ from a lone one in
the last bits, see `NextWordPredictor.next_logits`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from rnnlab.models.tasks.next_word.predict import NextWordPredictor
from rnnlab.models.tasks.serving import Answerer, QueryParam, TaskServing
from rnnlab.models.text import UNKNOWN_TOKEN, Dictionary, preprocess

# A context up to this long is read on the event loop; a longer one goes to a thread so that it
# never holds up the other requests (and is not worth its memory as a cache key).
INLINE_TEXT_CHARS = 1_000
MAX_TEXT_CHARS = 10_000
NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot store a NUL: no text parameter takes one


class Context(NamedTuple):
    text: str
    k: int
    words: list[str]
    ids: list[int]
    unknown: list[str]


class NextWordAnswerer(Answerer):
    stateful = True  # the predictor carries its recurrent state between calls
    batched = True

    def __init__(self, predictor: NextWordPredictor, dictionary: Dictionary) -> None:
        self.predictor = predictor
        self.dictionary = dictionary

    def key(self, query: Mapping[str, Any]) -> Hashable | None:
        text = query["text"]
        return (text, query["k"]) if len(text) <= INLINE_TEXT_CHARS else None

    def prepare(self, query: Mapping[str, Any]) -> Context:
        text, k = query["text"], query["k"]
        vocabulary = self.dictionary.size
        if k > vocabulary:
            raise ValueError(f"k must be in 1..{vocabulary} (the model's vocabulary)")
        return Context(text, k, *self._context(text))

    def inline(self, prepared: Context) -> bool:
        return len(prepared.text) <= INLINE_TEXT_CHARS

    def answer_many(self, prepared: Sequence[Context]) -> list[dict[str, Any]]:
        found = self.predictor.most_likely_many([c.ids for c in prepared], [c.k for c in prepared])
        return [self._fields(c, *answer) for c, answer in zip(prepared, found, strict=True)]

    def _fields(self, context: Context, top: np.ndarray, probabilities: np.ndarray) -> dict:
        words = self.dictionary.words
        return {
            "predictions": [
                {"word": words[i], "probability": p, "unknown": words[i] == UNKNOWN_TOKEN}
                for i, p in zip(top.tolist(), probabilities.tolist(), strict=True)
            ],
            "context": context.words,
            "unknown_words": context.unknown,
        }

    def _context(self, text: str) -> tuple[list[str], list[int], list[str]]:
        words = preprocess(text)
        if not words:
            raise ValueError(
                "the text has no word left after pre-processing (letters a-z, apostrophes and "
                "hyphens are kept): give at least one English word"
            )
        ids = [self.dictionary.id_of(word) for word in words]
        unknown = [word for word, i in zip(words, ids, strict=True) if i == 0]
        return words, ids, unknown

    def generate(
        self, text: str, words: int, temperature: float, top_k: int | None, seed: int | None
    ) -> dict[str, Any]:
        """A continuation of `text`, sampled on a copy of the predictor with state of its own:
        it needs no lock, so a long generation never holds up /predict on the same model."""
        if top_k is not None and top_k > self.dictionary.size:
            raise ValueError(f"top_k must be in 1..{self.dictionary.size} (the model's vocabulary)")
        context, ids, unknown = self._context(text)
        # The unknown token stands for many rare words: as generated text it would read "<unk>".
        unknown_id = self.dictionary.id_of(UNKNOWN_TOKEN)
        generated = self.predictor.with_own_state().generate(
            ids, words, temperature, top_k, np.random.default_rng(seed), banned=(unknown_id,)
        )
        continuation = self.dictionary.decode(generated)
        return {
            "text": " ".join(context + continuation),
            "continuation": continuation,
            "unknown_words": unknown,
        }


def _answerer(predictor: NextWordPredictor, dictionary: Dictionary | None) -> NextWordAnswerer:
    if dictionary is None:
        raise ValueError("a next-word model answers with its corpus dictionary")
    return NextWordAnswerer(predictor, dictionary)


SERVING = TaskServing(
    query=(
        QueryParam(
            "text",
            str,
            "Context (next word)",
            bounds={"max_length": MAX_TEXT_CHARS, "pattern": NO_NUL},
        ),
        QueryParam(
            "k",
            int,
            "How many next words (next word); at most the model's vocabulary",
            5,
            {"ge": 1},
        ),
    ),
    example="text=the cat",
    answerer=_answerer,
    generates=True,
)
