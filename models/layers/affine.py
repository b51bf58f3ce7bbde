"""A time-distributed affine layer: the notes' W_out z_t + c on every step, in rows."""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from rnnlab.models.init import init_weight


class TimeAffine:
    """y_t = x_t W + b on every step: (N, T, D) -> (N, T, O); W = W_out^T, b = c of the notes."""

    def __init__(
        self,
        in_size: int,
        out_size: int,
        rng: Generator,
        init: str = "xavier",
        dtype: DTypeLike = np.float32,
        *,
        init_std: float = 1.0,
        bias: bool = True,
    ) -> None:
        dtype = np.dtype(dtype)
        self.params: list[NDArray] = [init_weight(init, rng, (in_size, out_size), init_std, dtype)]
        self.param_names = ["W"]
        if bias:
            self.params.append(np.zeros(out_size, dtype=dtype))
            self.param_names.append("b")
        self.grads: list[NDArray] = [np.zeros_like(p) for p in self.params]
        self._xs: NDArray | None = None

    def forward(self, xs: NDArray) -> NDArray:
        N, T, D = xs.shape
        W = self.params[0]
        ys = (xs.reshape(N * T, D) @ W).reshape(N, T, -1)
        if len(self.params) == 2:
            ys += self.params[1]
        self._xs = xs
        return ys

    def backward(self, dys: NDArray) -> NDArray:
        assert self._xs is not None, "backward() before forward()"
        xs = self._xs
        N, T, D = xs.shape
        W = self.params[0]
        dys2 = dys.reshape(N * T, -1)  # (N*T, O)
        self.grads[0][...] = xs.reshape(N * T, D).T @ dys2
        if len(self.params) == 2:
            self.grads[1][...] = dys2.sum(axis=0)
        return (dys2 @ W.T).reshape(N, T, D)
