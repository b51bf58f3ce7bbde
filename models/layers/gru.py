"""Gated recurrent unit, one step at a time, in torch.nn.GRU's formulation (notes, s.3).

Gates sit side by side in torch's order (r, z, n):

    r = sigmoid(x_t Wx_r + h_{t-1} Wh_r + b_r)             reset gate
    z = sigmoid(x_t Wx_z + h_{t-1} Wh_z + b_z)             update gate
    n = tanh(x_t Wx_n + b_n + r * (h_{t-1} Wh_n + bh))     candidate state
    h_t = (1 - z) * n + z * h_{t-1}

The reset gate multiplies the hidden projection *with its bias*, so the candidate has a
hidden-side bias ``bh`` (H,) of its own; for r and z only the sum of torch's two biases
matters, and ``b`` (3H,) holds it. From torch.nn.GRU: ``Wx = weight_ih_l0.T``,
``Wh = weight_hh_l0.T``, ``b = bias_ih_l0 + [bias_hh_l0[:2H], 0]``, ``bh = bias_hh_l0[2H:]``.

Dropout (layers/dropout.py) multiplies x_t by m_x and h_{t-1} by m_z in the products with Wx
and Wh (one mask for the three gates); the h_{t-1} that z carries into h_t is never dropped.
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from rnnlab.models.init import init_weight
from rnnlab.models.layers.activations import sigmoid
from rnnlab.models.layers.dropout import NO_DROPOUT, SequenceMasks, drop
from rnnlab.models.layers.time import State, TimeRecurrent


class GRUParameters:
    """What a GRU layer holds: Wx (D, 3H), Wh (H, 3H), b (3H,) and bh (H,), the bias inside
    r * (.); and their gradients.

    The weights are drawn from `rng` in this order. GRUCell below and models/fast/gru.py's
    FastGRU are both built by this constructor, so that a seed gives them the same weights under
    the same names.
    """

    state_names: tuple[str, ...] = ("h",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rng: Generator,
        *,
        init: str = "xavier",
        init_std: float = 1.0,
        dtype: DTypeLike = np.float32,
    ) -> None:
        D, H = input_size, hidden_size
        self.dtype = np.dtype(dtype)
        self.hidden_size = H
        self.params = [
            init_weight(init, rng, (D, 3 * H), init_std, self.dtype),  # Wx
            init_weight(init, rng, (H, 3 * H), init_std, self.dtype),  # Wh
            np.zeros(3 * H, dtype=self.dtype),  # b
            np.zeros(H, dtype=self.dtype),  # bh
        ]
        self.param_names = ["Wx", "Wh", "b", "bh"]
        self.grads: list[NDArray] = [np.zeros_like(p) for p in self.params]


class GRUCell(GRUParameters):
    """One step: forward(x (N, D), (h_prev,), masks) -> ((h,), cache)."""

    def forward(
        self, x: NDArray, state: State, masks: SequenceMasks = NO_DROPOUT
    ) -> tuple[State, tuple]:
        (h_prev,) = state
        H = self.hidden_size
        Wx, Wh, b, bh = self.params
        x, h_dropped = drop(x, masks.inputs), drop(h_prev, masks.recurrent)
        ax = x @ Wx + b  # (N, 3H)
        ah = h_dropped @ Wh  # (N, 3H)
        r = sigmoid(ax[:, :H] + ah[:, :H])
        z = sigmoid(ax[:, H : 2 * H] + ah[:, H : 2 * H])
        hn = ah[:, 2 * H :] + bh
        n = np.tanh(ax[:, 2 * H :] + r * hn)
        h = (1 - z) * n + z * h_prev
        return (h,), (x, h_prev, h_dropped, r, z, n, hn, masks)

    def backward(self, dstate: State, cache: tuple) -> tuple[NDArray, State]:
        """(dL/dh,) -> (dL/dx, (dL/dh_prev,)); gradients added to grads."""
        (dh,) = dstate
        x, h_prev, h_dropped, r, z, n, hn, masks = cache  # x masked
        Wx, Wh = self.params[0], self.params[1]
        da_n = dh * (1 - z) * (1 - n * n)  # w.r.t. the pre-activation of n
        da_r = da_n * hn * r * (1 - r)
        da_z = dh * (h_prev - n) * z * (1 - z)
        dax = np.concatenate([da_r, da_z, da_n], axis=1)  # w.r.t. x Wx + b
        dah = np.concatenate([da_r, da_z, da_n * r], axis=1)  # w.r.t. h_prev Wh (+ bh for n)
        self.grads[0] += x.T @ dax
        self.grads[1] += h_dropped.T @ dah
        self.grads[2] += dax.sum(axis=0)
        self.grads[3] += dah[:, 2 * self.hidden_size :].sum(axis=0)
        return drop(dax @ Wx.T, masks.inputs), (dh * z + drop(dah @ Wh.T, masks.recurrent),)


class TimeGRU(TimeRecurrent):
    """GRUCell over a window: (N, T, D) -> (N, T, H); options as GRUCell's."""

    def __init__(
        self, input_size: int, hidden_size: int, rng: Generator, **options: object
    ) -> None:
        super().__init__(GRUCell(input_size, hidden_size, rng, **options))  # type: ignore[arg-type]
