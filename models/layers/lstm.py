"""Long short-term memory, one step at a time, with optional peephole connections (notes, s.3).

Gates sit side by side in one (D, 4H) and one (H, 4H) matrix, in torch's order (i, f, g, o), so
torch.nn.LSTM weights copy as ``Wx = weight_ih_l0.T``, ``Wh = weight_hh_l0.T``,
``b = bias_ih_l0 + bias_hh_l0``:

    a = x_t Wx + h_{t-1} Wh + b                   (N, 4H), split into a_i, a_f, a_g, a_o
    i = sigmoid(a_i [+ p_i * c_{t-1}])            input gate
    f = sigmoid(a_f [+ p_f * c_{t-1}])            forget gate
    g = tanh(a_g)                                 candidate, the notes' "a"
    c_t = f * c_{t-1} + i * g                     the cell state: constant error carousel
    o = sigmoid(a_o [+ p_o * c_t])                output gate
    h_t = o * tanh(c_t)

The bracketed terms are the diagonal peepholes (``peephole=True``: parameter ``p`` (3, H), rows
i, f, o): the gates see the cell. The forget bias starts at 1.0 (the notes' ``forget_bias``),
so that early in training the cell remembers rather than forgets.

Dropout (layers/dropout.py) multiplies x_t by m_x and h_{t-1} by m_z where they enter the
product (one mask for all four gates); the cell state c is never dropped. Backward multiplies
dL/dx_t and the share of dL/dh_{t-1} that came through Wh by the same masks.
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from rnnlab.models.init import init_weight
from rnnlab.models.layers.activations import sigmoid
from rnnlab.models.layers.dropout import NO_DROPOUT, SequenceMasks, drop
from rnnlab.models.layers.time import State, TimeRecurrent

FORGET_BIAS = 1.0


class LSTMParameters:
    """What an LSTM layer holds: Wx (D, 4H), Wh (H, 4H), b (4H,) with the forget bias, and with
    peepholes p (3, H); and their gradients.

    The weights are drawn from `rng` in this order. LSTMCell below and models/fast/lstm.py's
    FastLSTM are both built by this constructor, so that a seed gives them the same weights
    under the same names: the two are interchangeable mid-training.
    """

    state_names: tuple[str, ...] = ("h", "c")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rng: Generator,
        *,
        init: str = "xavier",
        init_std: float = 1.0,
        peephole: bool = False,
        dtype: DTypeLike = np.float32,
    ) -> None:
        D, H = input_size, hidden_size
        self.dtype = np.dtype(dtype)
        self.hidden_size = H
        self.peephole = peephole
        b = np.zeros(4 * H, dtype=self.dtype)
        b[H : 2 * H] = FORGET_BIAS
        self.params = [
            init_weight(init, rng, (D, 4 * H), init_std, self.dtype),  # Wx
            init_weight(init, rng, (H, 4 * H), init_std, self.dtype),  # Wh
            b,
        ]
        self.param_names = ["Wx", "Wh", "b"]
        if peephole:
            self.params.append(np.zeros((3, H), dtype=self.dtype))  # p: rows i, f, o
            self.param_names.append("p")
        self.grads: list[NDArray] = [np.zeros_like(p) for p in self.params]


class LSTMCell(LSTMParameters):
    """One step: forward(x (N, D), (h_prev, c_prev), masks) -> ((h, c), cache)."""

    def forward(
        self, x: NDArray, state: State, masks: SequenceMasks = NO_DROPOUT
    ) -> tuple[State, tuple]:
        h_prev, c_prev = state
        H = self.hidden_size
        Wx, Wh, b = self.params[:3]
        x, h_prev = drop(x, masks.inputs), drop(h_prev, masks.recurrent)
        a = x @ Wx + h_prev @ Wh + b  # (N, 4H)
        a_i, a_f, a_g, a_o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        if self.peephole:
            p = self.params[3]
            a_i = a_i + p[0] * c_prev
            a_f = a_f + p[1] * c_prev
        i, f, g = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g)
        c = f * c_prev + i * g
        if self.peephole:
            a_o = a_o + self.params[3][2] * c
        o = sigmoid(a_o)
        tanh_c = np.tanh(c)
        h = o * tanh_c
        return (h, c), (x, h_prev, c_prev, i, f, g, o, c, tanh_c, masks)

    def backward(self, dstate: State, cache: tuple) -> tuple[NDArray, State]:
        """(dL/dh, dL/dc) -> (dL/dx, (dL/dh_prev, dL/dc_prev)); gradients added to grads."""
        dh, dc_next = dstate
        x, h_prev, c_prev, i, f, g, o, c, tanh_c, masks = cache  # x, h_prev masked
        Wx, Wh = self.params[0], self.params[1]
        da_o = dh * tanh_c * o * (1 - o)
        dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
        if self.peephole:
            dc = dc + da_o * self.params[3][2]  # c_t also reached h through the output gate
        da_i = dc * g * i * (1 - i)
        da_f = dc * c_prev * f * (1 - f)
        da_g = dc * i * (1 - g * g)
        dc_prev = dc * f
        if self.peephole:
            p, dp = self.params[3], self.grads[3]
            dc_prev += da_i * p[0] + da_f * p[1]
            dp[0] += (da_i * c_prev).sum(axis=0)
            dp[1] += (da_f * c_prev).sum(axis=0)
            dp[2] += (da_o * c).sum(axis=0)
        da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)  # (N, 4H)
        self.grads[0] += x.T @ da
        self.grads[1] += h_prev.T @ da
        self.grads[2] += da.sum(axis=0)
        return drop(da @ Wx.T, masks.inputs), (drop(da @ Wh.T, masks.recurrent), dc_prev)


class TimeLSTM(TimeRecurrent):
    """LSTMCell over a window: (N, T, D) -> (N, T, H); options as LSTMCell's."""

    def __init__(
        self, input_size: int, hidden_size: int, rng: Generator, **options: object
    ) -> None:
        super().__init__(LSTMCell(input_size, hidden_size, rng, **options))  # type: ignore[arg-type]
