"""A model loaded for serving: its predictor and what its task's adapter keeps beside it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.tasks.binary_addition import BinaryAdder
from rnnlab.models.text import Dictionary
from rnnlab.service.serving.answers import AnswerCache
from rnnlab.service.serving.batching import NextWordBatcher

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


@dataclass(frozen=True)
class LoadedModel:
    model_id: int
    task: str
    config: Any
    predictor: Any  # what the task's registry entry builds: BinaryAdder, NextWordPredictor
    dictionary: Dictionary | None = None
    sum_table: SumTable | None = None
    # A NextWordPredictor carries its recurrent state between calls: one prediction at a time
    # (a generation runs on a copy with state of its own, without it).
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
