"""Answering a + b from a trained binary-addition model (GET /predict?a=37&b=45): from a table of
every answer when the model is small enough (`SumTable`), else a forward pass."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.predict import BinaryAdder
from rnnlab.models.tasks.config import bounds
from rnnlab.models.tasks.serving import Answerer, QueryParam, TaskServing
from rnnlab.models.text import Dictionary

SUM_TABLE_MAX_PAIRS = 2**16  # binary_dim <= 9: every answer is computed once, at load
# The largest addend any model takes (the largest binary_dim); each model takes
# 0..2^(binary_dim - 1) - 1, and says so when asked more.
MAX_OPERAND = 2 ** (bounds(BinaryAdditionConfig)["binary_dim"]["le"] - 1) - 1
ADDEND = "a model takes 0..2^(binary_dim-1)-1 (0..127 for the default binary_dim 8)"


@dataclass(frozen=True)
class SumTable:
    """Every answer of a binary-addition model, from one batched forward at load time.

    A request is then an index instead of a forward pass. They come from the same pass over
    the tree of bit prefixes (`BinaryAdder.predict_all_pairs`) that computed the model's
    final_accuracy.
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

    @property
    def pairs(self) -> int:
        return self.high * self.high

    def covers(self, a: int, b: int) -> bool:
        return 0 <= a < self.high and 0 <= b < self.high

    def answer(self, a: int, b: int) -> tuple[int, list[int], list[float]] | None:
        """(sum, bits, probabilities) of a + b; None when an operand is out of range."""
        if not self.covers(a, b):
            return None
        i = a * self.high + b
        return int(self.sums[i]), self.bits[i].tolist(), self.probabilities[i].tolist()


class SumAnswerer(Answerer):
    """a + b from the table when there is one, else a forward pass; every table answer is
    worth keeping encoded (the service's answer cache holds the whole table)."""

    def __init__(self, adder: BinaryAdder) -> None:
        self.adder = adder
        self.table = SumTable.build(adder)

    def cache_capacity(self, default: int) -> int:
        return max(default, self.table.pairs) if self.table is not None else 0

    def key(self, query: Mapping[str, Any]) -> Hashable | None:
        a, b = query["a"], query["b"]
        return (a, b) if self.table is not None and self.table.covers(a, b) else None

    def prepare(self, query: Mapping[str, Any]) -> tuple[int, int]:
        return query["a"], query["b"]

    def answer(self, prepared: tuple[int, int]) -> dict[str, Any]:
        a, b = prepared
        found = self.table.answer(a, b) if self.table is not None else None
        total, bits, probabilities = found or self.adder.predict(a, b)  # ValueError: the range
        return {"sum": total, "bits": bits, "probabilities": probabilities}


def _answerer(adder: BinaryAdder, dictionary: Dictionary | None) -> SumAnswerer:
    return SumAnswerer(adder)


SERVING = TaskServing(
    query=(
        QueryParam("a", int, f"First addend; {ADDEND}", bounds={"ge": 0, "le": MAX_OPERAND}),
        QueryParam("b", int, f"Second addend; {ADDEND}", bounds={"ge": 0, "le": MAX_OPERAND}),
    ),
    example="a=37&b=45",
    answerer=_answerer,
)
