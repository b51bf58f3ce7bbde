"""Inverted dropout: in training each unit is kept with probability 1 - rate and scaled by
1 / (1 - rate), so that nothing changes at inference (identity)."""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray


class Dropout:
    """forward(x, rng) drops units when given a generator; forward(x, None) is the identity."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._mask: NDArray | None = None

    def forward(self, x: NDArray, rng: Generator | None) -> NDArray:
        if rng is None or self.rate == 0.0:
            self._mask = None
            return x
        keep = 1.0 - self.rate
        self._mask = (rng.random(x.shape, dtype=np.float32) < keep).astype(x.dtype) / x.dtype.type(
            keep
        )
        return x * self._mask

    def backward(self, dout: NDArray) -> NDArray:
        return dout if self._mask is None else dout * self._mask
