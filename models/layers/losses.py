"""Losses: sigmoid outputs with squared error or cross-entropy (binary addition), softmax
cross-entropy over a vocabulary (next word). Each returns (loss, d loss / d logits)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.layers.activations import sigmoid

LOSSES = ("mse", "bce")


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


def log_softmax(logits: NDArray) -> NDArray:
    """Row-wise log-softmax over the last axis, stable (the max is subtracted first)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: NDArray) -> NDArray:
    """Row-wise softmax over the last axis, stable."""
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_cross_entropy(logits: NDArray, targets: NDArray) -> tuple[float, NDArray]:
    """Mean cross-entropy of logits (..., V) against integer targets (...), and d loss/d logits."""
    V = logits.shape[-1]
    flat = logits.reshape(-1, V)
    t = targets.reshape(-1)
    M = len(t)
    rows = np.arange(M)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_sums = np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (M, 1)
    loss = float((log_sums[:, 0] - shifted[rows, t]).mean())
    probs = np.exp(shifted - log_sums)  # (M, V)
    probs[rows, t] -= 1.0
    probs /= M
    return loss, probs.reshape(logits.shape)


class TimeSoftmaxCrossEntropy:
    """Loss layer: forward(logits (N, T, V), targets (N, T)) -> mean loss; backward() -> dlogits."""

    def __init__(self) -> None:
        self.params: list[NDArray] = []
        self.grads: list[NDArray] = []
        self.param_names: list[str] = []
        self._dlogits: NDArray | None = None

    def forward(self, logits: NDArray, targets: NDArray) -> float:
        loss, self._dlogits = softmax_cross_entropy(logits, targets)
        return loss

    def backward(self, dout: float = 1.0) -> NDArray:
        assert self._dlogits is not None, "backward() before forward()"
        return self._dlogits * dout
