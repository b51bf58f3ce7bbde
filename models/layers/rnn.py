"""The simple (Elman) recurrent cell of the notes, one step at a time.

    notes:  u_t = W_in x_t + W z_{t-1} + b,   z_t = f(u_t)
    code:   u   = x @ Wx + h_prev @ Wh + b,   h   = f(u)       (rows: see models/layers/__init__)

The notes' binary-addition network has no biases (``bias=False``). With dropout masks
(layers/dropout.py) x_t becomes m_x * x_t and z_{t-1} becomes m_z * z_{t-1} in u_t, and BPTT
carries the same masks back:

    dL/dx_t      = m_x * (W_in^T delta_t)
    dL/dz_{t-1} += m_z * (W^T delta_t)
    dW_in       += delta_t (m_x * x_t)^T,   dW += delta_t (m_z * z_{t-1})^T
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from rnnlab.models.init import init_weight
from rnnlab.models.layers.activations import activation as get_activation
from rnnlab.models.layers.dropout import NO_DROPOUT, SequenceMasks, drop
from rnnlab.models.layers.time import State, TimeRecurrent


class RNNParameters:
    """What an Elman layer holds: Wx = W_in^T (D, H), Wh = W^T (H, H) and, with `bias`, b (H,),
    their gradients, and f, the activation.

    The weights are drawn from `rng` in this order. RNNCell below and models/fast/rnn.py's
    FastRNN are both built by this constructor, so that a seed gives them the same weights under
    the same names: the two are interchangeable mid-training.
    """

    state_names: tuple[str, ...] = ("h",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rng: Generator,
        *,
        activation: str = "tanh",
        init: str = "xavier",
        init_std: float = 1.0,
        bias: bool = True,
        dtype: DTypeLike = np.float32,
    ) -> None:
        self.act = get_activation(activation)
        self.dtype = np.dtype(dtype)
        self.hidden_size = H = hidden_size
        self.bias = bias
        self.params = [
            init_weight(init, rng, (input_size, H), init_std, self.dtype),  # Wx
            init_weight(init, rng, (H, H), init_std, self.dtype),  # Wh
        ]
        self.param_names = ["Wx", "Wh"]
        if bias:
            self.params.append(np.zeros(H, dtype=self.dtype))
            self.param_names.append("b")
        self.grads: list[NDArray] = [np.zeros_like(p) for p in self.params]


class RNNCell(RNNParameters):
    """One step: forward(x (N, D), (h_prev,), masks) -> ((h,), cache); backward adds into
    grads."""

    def forward(
        self, x: NDArray, state: State, masks: SequenceMasks = NO_DROPOUT
    ) -> tuple[State, tuple]:
        (h_prev,) = state
        Wx, Wh = self.params[0], self.params[1]
        x, h_prev = drop(x, masks.inputs), drop(h_prev, masks.recurrent)  # m_x x_t, m_z z_{t-1}
        u = x @ Wx + h_prev @ Wh
        if self.bias:
            u += self.params[2]  # b
        h = self.act.fn(u)
        return (h,), (x, h_prev, u, h, masks)

    def backward(self, dstate: State, cache: tuple) -> tuple[NDArray, State]:
        """dstate = (dL/dh,) -> (dL/dx, (dL/dh_prev,)); dWx, dWh, db are added to grads."""
        (dh,) = dstate
        x, h_prev, u, h, masks = cache  # x and h_prev as the product saw them: masked
        Wx, Wh = self.params[0], self.params[1]
        du = dh * self.act.grad(u, h)  # delta_t of the notes
        self.grads[0] += x.T @ du
        self.grads[1] += h_prev.T @ du
        if self.bias:
            self.grads[2] += du.sum(axis=0)
        return drop(du @ Wx.T, masks.inputs), (drop(du @ Wh.T, masks.recurrent),)


class TimeRNN(TimeRecurrent):
    """RNNCell over a window: (N, T, D) -> (N, T, H); options as RNNCell's."""

    def __init__(
        self, input_size: int, hidden_size: int, rng: Generator, **options: object
    ) -> None:
        super().__init__(RNNCell(input_size, hidden_size, rng, **options))  # type: ignore[arg-type]
