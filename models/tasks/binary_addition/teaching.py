"""What a binary-addition run shows as it learns, as the notes print it every 100 iterations:
a few fixed sums ("a + b = predicted (true)" with the predicted and true bits) and the accuracy
of each bit position at each log step (teaching_views), and every gradient_norms_every steps the
error of the top bit travelling back in time.

Records (TrainingHooks.record):
    sums            {"sums": [{"a", "b", "predicted", "true", "predicted_bits", "true_bits",
                     "correct"}]}: bits most significant first, as numpy's unpackbits prints them
    bit_accuracy    {"accuracy": [per bit, least significant first], "samples": n}: over the
                     training batches since the last log step
    gradient_norms  {"norms": [||dL_T/dh_t|| for t = 0..T-1], "loss_step": T-1}: the loss of
                     the last (most significant) bit, whose carry depends on every earlier step
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import from_bits, make_inputs
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.teaching import last_step_gradient_norms
from rnnlab.models.training import TrainingHooks

SAMPLE_SEED = 1600  # the fixed sums: drawn from their own generator, never the run's
SAMPLE_SUMS = 4


def sample_pairs(binary_dim: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The same SAMPLE_SUMS operand pairs at every log step of every run of this binary_dim."""
    high = 2 ** (binary_dim - 1)
    a, b = np.random.default_rng(SAMPLE_SEED).integers(0, high, size=(2, SAMPLE_SUMS))
    return a.astype(np.int64), b.astype(np.int64)


def bits_text(n: int, binary_dim: int) -> str:
    return format(n, f"0{binary_dim}b")


def sums(net: BinaryAdditionNet, a: NDArray, b: NDArray, binary_dim: int) -> list[dict]:
    """The net's answers to a + b, pair by pair (one forward pass)."""
    return sums_of(net, make_inputs(a, b, binary_dim), a.tolist(), b.tolist())


def sums_of(net: BinaryAdditionNet, inputs: NDArray, a: list[int], b: list[int]) -> list[dict]:
    """sums() of inputs made once (a log step then costs one small forward pass)."""
    binary_dim = inputs.shape[1]
    predicted = from_bits(net.forward(inputs) > 0).tolist()
    return [
        {
            "a": x,
            "b": y,
            "predicted": p,
            "true": x + y,
            "predicted_bits": bits_text(p, binary_dim),
            "true_bits": bits_text(x + y, binary_dim),
            "correct": p == x + y,
        }
        for x, y, p in zip(a, b, predicted, strict=True)
    ]


class Teacher:
    """The records a run's hooks want, computed only when wanted."""

    def __init__(self, config: BinaryAdditionConfig, hooks: TrainingHooks) -> None:
        on = config.teaching_views
        self.hooks = hooks
        self.sums = on and hooks.wants("sums")
        self.trace_every = config.gradient_norms_every if hooks.wants("gradient_norms") else None
        # right bits per bit position since the last log step, and the samples counted
        self.bit_hits = np.zeros(config.binary_dim, np.int64)
        self.bit_samples = 0
        self.counts_bits = on and hooks.wants("bit_accuracy")
        a, b = sample_pairs(config.binary_dim)
        self.pairs = (make_inputs(a, b, config.binary_dim), a.tolist(), b.tolist())

    def traces_at(self, step: int) -> bool:
        """Whether the training step `step` traces the gradient back in time."""
        return self.trace_every is not None and step % self.trace_every == 0

    def trace(self, net: BinaryAdditionNet, dlogits: NDArray, step: int) -> None:
        """Record ||dL_T/dh_t|| of the top recurrent layer; before the training backward."""
        top = net.layers[-2]
        w_out = net.layers[-1].params[0]  # (H, 1)
        dh_last = dlogits[:, -1:] @ w_out.T  # dL_T/dh_T: the last bit's error through out.W
        T = dlogits.shape[1]
        norms = last_step_gradient_norms(top, dh_last, T)
        self.hooks.record(step, "gradient_norms", {"norms": norms.tolist(), "loss_step": T - 1})

    def count(self, hits: NDArray) -> None:
        """Add a batch's right bits (N, T) to the per-position tally."""
        if self.counts_bits:
            self.bit_hits += hits.sum(axis=0)
            self.bit_samples += len(hits)

    def log(self, net: BinaryAdditionNet, step: int) -> None:
        """The log step's records: the fixed sums and the bit accuracy since the last one."""
        if self.sums:
            self.hooks.record(step, "sums", {"sums": sums_of(net, *self.pairs)})
        if self.counts_bits and self.bit_samples:
            samples = self.bit_samples
            accuracy = (self.bit_hits / samples).tolist()
            self.hooks.record(step, "bit_accuracy", {"accuracy": accuracy, "samples": samples})
            self.bit_hits[:] = 0
            self.bit_samples = 0
