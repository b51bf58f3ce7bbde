"""The simple (Elman) recurrent cell of the notes, one step at a time.

    notes:  u_t = W_in x_t + W z_{t-1} + b,   z_t = f(u_t)
    code:   u   = x @ Wx + h_prev @ Wh + b,   h   = f(u)       (rows: see models/layers/__init__)

The notes' binary-addition network has no biases (``bias=False``).
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from rnnlab.models.init import init_weight
from rnnlab.models.layers.activations import activation as get_activation
from rnnlab.models.layers.time import State, TimeRecurrent


def rnn_parameters(
    input_size: int,
    hidden_size: int,
    rng: Generator,
    *,
    init: str = "xavier",
    init_std: float = 1.0,
    bias: bool = True,
    dtype: DTypeLike = np.float32,
) -> tuple[list[NDArray], list[str]]:
    """Wx = W_in^T (D, H), Wh = W^T (H, H) and, with `bias`, b (H,); drawn in this order from
    `rng`, so that a seed gives the same weights to this cell and to models/fast/rnn.py."""
    H = hidden_size
    params = [
        init_weight(init, rng, (input_size, H), init_std, dtype),
        init_weight(init, rng, (H, H), init_std, dtype),
    ]
    names = ["Wx", "Wh"]
    if bias:
        params.append(np.zeros(H, dtype=dtype))
        names.append("b")
    return params, names


class RNNCell:
    """One step: forward(x (N, D), (h_prev,)) -> ((h,), cache); backward adds into grads."""

    state_names = ("h",)

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
        self.params, self.param_names = rnn_parameters(
            input_size, H, rng, init=init, init_std=init_std, bias=bias, dtype=self.dtype
        )
        self.grads: list[NDArray] = [np.zeros_like(p) for p in self.params]

    def forward(self, x: NDArray, state: State) -> tuple[State, tuple[NDArray, ...]]:
        (h_prev,) = state
        Wx, Wh = self.params[0], self.params[1]
        u = x @ Wx + h_prev @ Wh
        if len(self.params) == 3:
            u += self.params[2]
        h = self.act.fn(u)
        return (h,), (x, h_prev, u, h)

    def backward(self, dstate: State, cache: tuple[NDArray, ...]) -> tuple[NDArray, State]:
        """dstate = (dL/dh,) -> (dL/dx, (dL/dh_prev,)); dWx, dWh, db are added to grads."""
        (dh,) = dstate
        x, h_prev, u, h = cache
        Wx, Wh = self.params[0], self.params[1]
        du = dh * self.act.grad(u, h)  # delta_t of the notes
        self.grads[0] += x.T @ du
        self.grads[1] += h_prev.T @ du
        if len(self.params) == 3:
            self.grads[2] += du.sum(axis=0)
        return du @ Wx.T, (du @ Wh.T,)


class TimeRNN(TimeRecurrent):
    """RNNCell over a window: (N, T, D) -> (N, T, H); options as RNNCell's."""

    def __init__(
        self, input_size: int, hidden_size: int, rng: Generator, **options: object
    ) -> None:
        super().__init__(RNNCell(input_size, hidden_size, rng, **options))  # type: ignore[arg-type]
