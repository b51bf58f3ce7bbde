"""Binary-addition samples: a + b one bit per step, least significant first (notes, s.1).

x_t = [a_bit(t), b_bit(t)] and the target is d_bit(t), d = a + b, with a, b uniform in
[0, 2^(binary_dim-1)) so that the sum fits in binary_dim bits.
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

EXHAUSTIVE_MAX_PAIRS = 2**16  # evaluate every pair up to this many, else a fixed sample
EVAL_SAMPLE_SEED = 20240601  # the fixed sample is the same for every model


def to_bits(n: NDArray, binary_dim: int) -> NDArray[np.uint8]:
    """(N,) integers -> (N, binary_dim) bits, least significant first."""
    shifts = np.arange(binary_dim, dtype=np.int64)
    return ((n.astype(np.int64)[:, None] >> shifts) & 1).astype(np.uint8)


def from_bits(bits: NDArray) -> NDArray[np.int64]:
    """(N, T) bits, least significant first -> (N,) integers."""
    T = bits.shape[1]
    return (bits.astype(np.int64) << np.arange(T, dtype=np.int64)).sum(axis=1)


def make_inputs(a: NDArray, b: NDArray, binary_dim: int, dtype=np.float32) -> NDArray:
    """(N,) operands -> xs (N, T, 2) with x_t = [a_bit(t), b_bit(t)]."""
    return np.stack([to_bits(a, binary_dim), to_bits(b, binary_dim)], axis=-1).astype(dtype)


def draw_pairs(rng: Generator, n: int, binary_dim: int) -> tuple[NDArray, NDArray]:
    """n random operand pairs (a, b), each uniform in [0, 2^(binary_dim-1))."""
    high = 2 ** (binary_dim - 1)
    a = rng.integers(0, high, size=n, dtype=np.int64)
    b = rng.integers(0, high, size=n, dtype=np.int64)
    return a, b


def sample_batch(
    rng: Generator, n: int, binary_dim: int, dtype=np.float32
) -> tuple[NDArray, NDArray]:
    """A random batch: xs (n, T, 2) and targets (n, T), bits least significant first."""
    a, b = draw_pairs(rng, n, binary_dim)
    return make_inputs(a, b, binary_dim, dtype), to_bits(a + b, binary_dim).astype(dtype)


def pair_keys(a: NDArray, b: NDArray, binary_dim: int) -> NDArray[np.int64]:
    """One integer per pair, a * 2^(binary_dim-1) + b: pairs compared as numbers."""
    return a * 2 ** (binary_dim - 1) + b


class TrainingSet:
    """A fixed set of pairs seen epoch after epoch (the notes' Keras protocol: 10,000 samples
    for 5 epochs), batch by batch in an order drawn anew each epoch from (seed, epoch), so that
    a resumed run finds its place from its step alone. The last batch of an epoch holds what
    is left (fewer than batch_size when batch_size does not divide the set)."""

    def __init__(self, a: NDArray, b: NDArray, batch_size: int, binary_dim: int, seed: int):
        self.a, self.b = a, b
        self.batch_size, self.binary_dim, self.seed = batch_size, binary_dim, seed
        self.steps_per_epoch = -(-len(a) // batch_size)
        self._order_epoch, self._order = -1, np.arange(0)

    def batch(self, k: int, dtype=np.float32) -> tuple[NDArray, NDArray]:
        """The k-th batch of the run (0 for the first): xs (n, T, 2) and targets (n, T)."""
        epoch, position = divmod(k, self.steps_per_epoch)
        if epoch != self._order_epoch:
            self._order_epoch = epoch
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.a))
        rows = self._order[position * self.batch_size : (position + 1) * self.batch_size]
        a, b = self.a[rows], self.b[rows]
        xs = make_inputs(a, b, self.binary_dim, dtype)
        return xs, to_bits(a + b, self.binary_dim).astype(dtype)

    def lacks(self, a: NDArray, b: NDArray) -> NDArray[np.bool_]:
        """(N,) True for each pair (a, b) the set does not hold: the held-out ones."""
        known = pair_keys(self.a, self.b, self.binary_dim)
        return ~np.isin(pair_keys(a, b, self.binary_dim), known)


def evaluation_pairs(binary_dim: int) -> tuple[NDArray, NDArray]:
    """Every (a, b) pair when there are at most 2^16, else a fixed sample of 2^16 pairs."""
    high = 2 ** (binary_dim - 1)
    if high * high <= EXHAUSTIVE_MAX_PAIRS:
        a, b = np.divmod(np.arange(high * high, dtype=np.int64), high)
        return a, b
    rng = np.random.default_rng(EVAL_SAMPLE_SEED)
    a = rng.integers(0, high, size=EXHAUSTIVE_MAX_PAIRS, dtype=np.int64)
    b = rng.integers(0, high, size=EXHAUSTIVE_MAX_PAIRS, dtype=np.int64)
    return a, b


VALIDATION_STREAM = 1  # the validation sample's draws: a stream of its own beside training's


def validation_pairs(seed: int, samples: int, binary_dim: int) -> tuple[NDArray, NDArray]:
    """A job's validation sample: `samples` pairs drawn from its seed, on a generator of their
    own, so that training draws exactly what it would without one."""
    high = 2 ** (binary_dim - 1)
    rng = np.random.default_rng([seed, VALIDATION_STREAM])
    a = rng.integers(0, high, size=samples, dtype=np.int64)
    b = rng.integers(0, high, size=samples, dtype=np.int64)
    return a, b
