"""Inverted dropout: in training each unit is kept with probability 1 - rate and scaled by
1 / (1 - rate), so that nothing changes at inference (identity).

Two forms:

- ``Dropout``: a fresh mask for every element of its input, at every call.
- ``SequenceMasks``: Keras's ``dropout`` and ``recurrent_dropout`` of a recurrent layer (Gal and
  Ghahramani's variational dropout), one mask per sequence, drawn per sample and applied at
  every time step of the window. In the notes' notation, with m_x and m_z vectors of 0 and
  1 / (1 - rate):

      u_t = W_in (m_x * x_t) + W (m_z * z_{t-1}) + b          (* element-wise)

  so a dropped input unit or recurrent unit is the same one at every step t. The recurrent mask
  only thins what enters the product with W (Keras: "for the linear transformation of the
  recurrent state"): the state carried on (the LSTM's cell c_t, the GRU's z * h_{t-1}) is never
  dropped. The gated cells use one mask for all their gates, as Keras 3 does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray


def inverted_mask(rng: Generator, shape: tuple[int, ...], rate: float, dtype: DTypeLike) -> NDArray:
    """0 with probability `rate`, else 1 / (1 - rate): the expectation of x * mask is x."""
    keep = 1.0 - rate
    return (rng.random(shape, dtype=np.float32) < keep).astype(dtype) / np.asarray(keep, dtype)


class Dropout:
    """forward(x, rng) drops units when given a generator; forward(x, None) is the identity."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._mask: NDArray | None = None

    def forward(self, x: NDArray, rng: Generator | None) -> NDArray:
        if rng is None or self.rate == 0.0:
            self._mask = None
            return x
        self._mask = inverted_mask(rng, x.shape, self.rate, x.dtype)
        return x * self._mask

    def backward(self, dout: NDArray) -> NDArray:
        return dout if self._mask is None else dout * self._mask


class SequenceMasks(NamedTuple):
    """The dropout masks of one recurrent layer over one window: ``inputs`` m_x (N, D) on
    every x_t, ``recurrent`` m_z (N, H) on every h_{t-1} where it meets Wh; None: not dropped."""

    inputs: NDArray | None = None
    recurrent: NDArray | None = None


NO_DROPOUT = SequenceMasks()


def drop(a: NDArray, mask: NDArray | None) -> NDArray:
    """a * mask, or a itself when there is no mask. The backward pass is the same product:
    d(a * m)/da = m."""
    return a if mask is None else a * mask


def sequence_masks(
    rng: Generator | None,
    n: int,
    input_size: int,
    hidden_size: int,
    dropout: float,
    recurrent_dropout: float,
    dtype: DTypeLike = np.float32,
) -> SequenceMasks:
    """Masks for a window of n sequences, drawn from `rng` in this order: m_x (n, input_size)
    when dropout > 0, then m_z (n, hidden_size) when recurrent_dropout > 0. Without a generator
    (inference) or with both rates 0, NO_DROPOUT, and nothing is drawn."""
    if rng is None:
        return NO_DROPOUT
    inputs = inverted_mask(rng, (n, input_size), dropout, dtype) if dropout > 0 else None
    recurrent = (
        inverted_mask(rng, (n, hidden_size), recurrent_dropout, dtype)
        if recurrent_dropout > 0
        else None
    )
    return SequenceMasks(inputs, recurrent)
