"""Time-distributed affine layer and per-step sigmoid losses."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from models.activations import sigmoid
from models.initializers import init_weight

LOSSES = ("mse", "bce")


class TimeAffine:
    """y_t = x_t W + b on every step: (N, T, D) -> (N, T, O)."""

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


def sigmoid_mse_loss(logits: NDArray, targets: NDArray) -> tuple[float, NDArray]:
    """0.5 (sigmoid(z) - d)^2 summed over every output of a sample, averaged over the batch.

    logits, targets: (N, ...) -> (loss, dlogits of logits' shape). Summing over the steps
    matches the notes' per-sample "all_loss"; with N = 1 the gradient is theirs (y - d) y (1 - y).
    """
    N = logits.shape[0]
    y = sigmoid(logits)
    diff = y - targets
    loss = 0.5 * float(np.sum(diff * diff, dtype=np.float64)) / N
    return loss, (diff * y * (1.0 - y) / N).astype(logits.dtype, copy=False)


def sigmoid_bce_loss(logits: NDArray, targets: NDArray) -> tuple[float, NDArray]:
    """Binary cross-entropy of sigmoid(z) summed per sample, averaged over the batch.

    Computed from the logits (max(z, 0) - z d + log(1 + e^-|z|)) so it never takes log(0).
    """
    N = logits.shape[0]
    per = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    loss = float(np.sum(per, dtype=np.float64)) / N
    return loss, ((sigmoid(logits) - targets) / N).astype(logits.dtype, copy=False)


LossFn = Callable[[NDArray, NDArray], tuple[float, NDArray]]


def sigmoid_loss(name: str) -> LossFn:
    """The loss function called `name` (one of LOSSES)."""
    if name == "mse":
        return sigmoid_mse_loss
    if name == "bce":
        return sigmoid_bce_loss
    raise ValueError(f"unknown loss {name!r}: allowed values are {', '.join(LOSSES)}")
