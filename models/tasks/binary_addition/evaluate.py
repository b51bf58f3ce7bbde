"""How well a binary-addition net adds: exact-match accuracy over every pair (or a fixed
sample of 2^16 pairs for wide numbers), per-bit accuracy and the mean loss."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.layers.losses import sigmoid_loss
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import make_inputs, to_bits
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet

# Pairs per forward pass in evaluation: bounds memory at binary_dim 32, and lets a stop check
# that fails (most do) end after its first chunk instead of reading every pair.
EVAL_CHUNK = 2048


@dataclass(frozen=True)
class EvaluationSet:
    """Evaluation pairs made into inputs and targets once: every pair in order (evaluated by
    `BinaryAdditionNet.all_pairs_logits`), or chunks of EVAL_CHUNK pairs."""

    chunks: list[tuple[NDArray, NDArray]]  # (xs (n, T, 2), target bits (n, T) uint8); or
    all_targets: NDArray | None  # target bits (high^2, T) of every pair, row a * high + b
    binary_dim: int

    @classmethod
    def build(cls, a: NDArray, b: NDArray, binary_dim: int) -> EvaluationSet:
        high = 2 ** (binary_dim - 1)
        if len(a) == high * high and np.array_equal(a * high + b, np.arange(high * high)):
            return cls([], to_bits(a + b, binary_dim), binary_dim)
        chunks = [
            (
                make_inputs(a[i : i + EVAL_CHUNK], b[i : i + EVAL_CHUNK], binary_dim),
                to_bits(a[i : i + EVAL_CHUNK] + b[i : i + EVAL_CHUNK], binary_dim),
            )
            for i in range(0, len(a), EVAL_CHUNK)
        ]
        return cls(chunks, None, binary_dim)

    @property
    def pairs(self) -> int:
        if self.all_targets is not None:
            return len(self.all_targets)
        return sum(len(ts) for _, ts in self.chunks)

    def logits_and_targets(self, net: BinaryAdditionNet) -> Iterator[tuple[NDArray, NDArray]]:
        """(logits (n, T), target bits (n, T)): all pairs at once, or chunk by chunk."""
        if self.all_targets is not None:
            yield net.all_pairs_logits(self.binary_dim), self.all_targets
            return
        for xs, ts in self.chunks:
            yield net.forward(xs), ts


def evaluate(
    net: BinaryAdditionNet, config: BinaryAdditionConfig, a: NDArray, b: NDArray
) -> dict[str, float]:
    """Exact-match accuracy, per-bit accuracy and mean loss over the pairs (a, b), chunked."""
    result = evaluate_set(net, config, EvaluationSet.build(a, b, config.binary_dim))
    assert result is not None
    return result


def evaluate_set(
    net: BinaryAdditionNet,
    config: BinaryAdditionConfig,
    pairs: EvaluationSet,
    give_up_below: float | None = None,
) -> dict[str, float] | None:
    """The metrics of `evaluate`; None as soon as the exact-match accuracy is certain to stay
    below `give_up_below` (a failed stop check on a sample then costs a chunk, not every pair)."""
    loss_fn = sigmoid_loss(config.loss)
    total = pairs.pairs
    allowed_misses = None if give_up_below is None else total - math.ceil(give_up_below * total)
    exact = bits_ok = seen = 0
    loss_sum = 0.0
    with np.errstate(all="ignore"):  # a broken model shows as a non-finite loss, not a crash
        for logits, ts in pairs.logits_and_targets(net):
            right = (logits > 0) == ts  # (n, T)
            exact += int(right.all(axis=1).sum())
            seen += len(ts)
            if allowed_misses is not None and seen - exact > allowed_misses:
                return None  # before the loss: a failed check needs none
            bits_ok += int(right.sum())
            loss, _ = loss_fn(logits, ts.astype(np.float32))
            loss_sum += loss * len(ts)
    return {
        "accuracy": exact / total,
        "bit_accuracy": bits_ok / (total * pairs.binary_dim),
        "loss": loss_sum / total,
        "pairs": float(total),
    }


@dataclass(frozen=True)
class HeldOutSet:
    """The evaluation pairs a fixed training set (train_samples) does not hold: its test set.
    `held_out` (pairs,) marks them, in the order the evaluation set yields its pairs."""

    pairs: EvaluationSet
    held_out: NDArray

    @property
    def size(self) -> int:
        return int(self.held_out.sum())

    def evaluate(self, net: BinaryAdditionNet, config: BinaryAdditionConfig) -> dict[str, float]:
        """test_loss, test_accuracy (whole sums right) and test_bit_accuracy over the held-out
        pairs; nothing when the training set holds every pair."""
        loss_fn = sigmoid_loss(config.loss)
        exact = bits_ok = seen = start = 0
        loss_sum = 0.0
        with np.errstate(all="ignore"):  # a broken model shows as a non-finite loss
            for logits, ts in self.pairs.logits_and_targets(net):
                keep = self.held_out[start : start + len(ts)]
                start += len(ts)
                if not keep.any():
                    continue
                kept_logits, kept_ts = logits[keep], ts[keep]
                right = (kept_logits > 0) == kept_ts  # (n, T)
                exact += int(right.all(axis=1).sum())
                bits_ok += int(right.sum())
                seen += len(kept_ts)
                loss, _ = loss_fn(kept_logits, kept_ts.astype(np.float32))
                loss_sum += loss * len(kept_ts)
        if not seen:
            return {}
        return {
            "test_loss": loss_sum / seen,
            "test_accuracy": exact / seen,
            "test_bit_accuracy": bits_ok / (seen * self.pairs.binary_dim),
        }
