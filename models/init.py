"""Named weight initialisers drawing from an explicit numpy Generator."""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

INITS = ("normal", "xavier", "he")


def init_weight(
    kind: str,
    rng: Generator,
    shape: tuple[int, int],
    std: float = 1.0,
    dtype: DTypeLike = np.float32,
) -> NDArray:
    """A (n_in, n_out) weight matrix.

    normal: N(0, std^2); xavier: N(0, 1/n_in); he: N(0, 2/n_in), with n_in = shape[0].
    """
    if kind not in INITS:
        raise ValueError(f"unknown init {kind!r}: allowed values are {', '.join(INITS)}")
    w = rng.standard_normal(shape)  # float64 draw: identical numbers whatever the dtype
    n_in = shape[0]
    if kind == "normal":
        w *= std
    elif kind == "xavier":
        w /= np.sqrt(n_in)
    else:
        w *= np.sqrt(2.0 / n_in)
    return w.astype(dtype, copy=False)
