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


def sample_batch(
    rng: Generator, n: int, binary_dim: int, dtype=np.float32
) -> tuple[NDArray, NDArray]:
    """A random batch: xs (n, T, 2) and targets (n, T), bits least significant first."""
    high = 2 ** (binary_dim - 1)
    a = rng.integers(0, high, size=n, dtype=np.int64)
    b = rng.integers(0, high, size=n, dtype=np.int64)
    return make_inputs(a, b, binary_dim, dtype), to_bits(a + b, binary_dim).astype(dtype)


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
