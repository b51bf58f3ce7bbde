"""The fast layers' sigmoid, through tanh: sigmoid(u) = 0.5 tanh(u / 2) + 0.5.

One transcendental instead of an exp and a division, no overflow for any u, and computed in
place. The identity also lets a gated cell activate all its gates in one tanh pass: the
pre-activations of its sigmoid gates are halved ahead of time (folded into copies of their
weights: exact, 0.5 being a power of two), one tanh runs over every gate, and the sigmoid gates'
columns are then mapped t -> 0.5 t + 0.5 (``GateActivation``). fast/lstm.py activates its four
gates so; fast/gru.py activates its r and z with ``sigmoid_``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike, NDArray

HALF = 0.5  # u / 2 inside the tanh, and 0.5 t + 0.5 outside it


def sigmoid_(u: NDArray) -> NDArray:
    """sigmoid(u), in place."""
    u *= HALF
    return sigmoid_of_halved_(u)


def sigmoid_of_halved_(half_u: NDArray) -> NDArray:
    """sigmoid(u), in place, given u / 2 (a pre-activation whose weights were halved)."""
    np.tanh(half_u, out=half_u)
    half_u *= HALF
    half_u += HALF
    return half_u


def halved(a: NDArray) -> NDArray:
    """A copy of `a` times 0.5: a term of a sigmoid gate's pre-activation, scaled like the rest."""
    return a * HALF


class GateActivation:
    """Gates side by side, H columns each, activated by one tanh pass over all of them.

    `kinds` names each gate's nonlinearity in order, "s" for a sigmoid and "t" for a tanh: the
    LSTM's (i, f, g, o) is "ssts". Per column, ``scale`` is 0.5 under a sigmoid gate and 1 under
    a tanh one, ``shift`` 0.5 and 0: the pre-activation is multiplied by ``scale`` (``halve``,
    on the weights), tanh's output by ``scale`` again, and then ``shift`` is added.
    """

    def __init__(self, kinds: str, H: int, dtype: DTypeLike) -> None:
        sigmoid_columns = np.repeat([kind == "s" for kind in kinds], H)
        self.scale = np.where(sigmoid_columns, HALF, 1.0).astype(dtype)
        self.shift = np.where(sigmoid_columns, HALF, 0.0).astype(dtype)

    def halve(self, w: NDArray) -> NDArray:
        """A copy of `w` (..., columns) with its sigmoid gates' columns halved."""
        return w * self.scale

    def activate_(self, half_a: NDArray) -> NDArray:
        """The first half_a.shape[-1] columns' activations, in place, from their pre-activations
        with the sigmoid gates' columns halved."""
        n = half_a.shape[-1]
        np.tanh(half_a, out=half_a)
        half_a *= self.scale[:n]
        half_a += self.shift[:n]
        return half_a
