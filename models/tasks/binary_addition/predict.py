"""A trained binary-addition net answering a + b: the sum, its bits and their probabilities."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.layers.activations import sigmoid
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import from_bits, make_inputs
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet


def is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


class BinaryAdder:
    """A trained model answering a + b."""

    def __init__(self, config: BinaryAdditionConfig, net: BinaryAdditionNet) -> None:
        self.config = config
        self.net = net

    @classmethod
    def from_weights(
        cls, config: BinaryAdditionConfig, weights: Mapping[str, NDArray]
    ) -> BinaryAdder:
        # Answers come from the fast layers whatever trained the weights (the same names and
        # layout); the seed only makes the draw that the weights overwrite cheap and fixed.
        config = dataclasses.replace(config, implementation="fast")
        net = BinaryAdditionNet(config, np.random.default_rng(0))
        net.load_weights(weights)
        return cls(config, net)

    def _check(self, name: str, v: NDArray) -> None:
        hi = self.config.max_operand
        if v.size and (v.min() < 0 or v.max() > hi):
            raise ValueError(
                f"{name} must be an integer in 0..{hi} "
                f"for a model with binary_dim {self.config.binary_dim}"
            )

    def predict_many(
        self, a: NDArray, b: NDArray
    ) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.float32]]:
        """(N,) operands -> sums (N,), bits (N, T), probabilities (N, T); most significant first."""
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        for name, v in (("a", a_arr), ("b", b_arr)):
            if v.ndim != 1 or not (np.issubdtype(v.dtype, np.integer) or v.size == 0):
                raise ValueError(f"{name} must be a 1-d array of integers")
            self._check(name, v)
        if a_arr.shape != b_arr.shape:
            raise ValueError(
                f"a and b must have the same length, got {len(a_arr)} and {len(b_arr)}"
            )
        xs = make_inputs(a_arr.astype(np.int64), b_arr.astype(np.int64), self.config.binary_dim)
        with np.errstate(all="ignore"):
            return _answers(self.net.forward(xs))

    def predict_all_pairs(self) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.float32]]:
        """`predict_many` of every pair a, b <= max_operand, row a * (max_operand + 1) + b, in one
        pass (`BinaryAdditionNet.all_pairs_logits`)."""
        with np.errstate(all="ignore"):
            return _answers(self.net.all_pairs_logits(self.config.binary_dim))

    def predict(self, a: int, b: int) -> tuple[int, list[int], list[float]]:
        """a + b -> (sum, bits, probabilities), bits and probabilities most significant first."""
        for name, v in (("a", a), ("b", b)):
            if not is_int(v) or not 0 <= v <= self.config.max_operand:  # type: ignore[operator]
                raise ValueError(
                    f"{name} must be an integer in 0..{self.config.max_operand} "
                    f"for a model with binary_dim {self.config.binary_dim}"
                )
        sums, bits, probs = self.predict_many(np.array([a]), np.array([b]))
        return int(sums[0]), [int(x) for x in bits[0]], [float(p) for p in probs[0]]


def _answers(logits: NDArray) -> tuple[NDArray[np.int64], NDArray[np.uint8], NDArray[np.float32]]:
    """Logits (N, T), least significant first -> sums, bits, probabilities (most significant
    first)."""
    probs = sigmoid(logits)
    bits = (probs > 0.5).astype(np.uint8)
    return from_bits(bits), bits[:, ::-1].copy(), probs[:, ::-1].copy()
