"""Softmax cross-entropy over a vocabulary, plain and fused with the output projection.

The output layer (hidden -> vocabulary) plus the softmax is most of the training time of a word
model. ``SoftmaxOutput`` processes the rows in blocks: each block's logits (rows x V) are made,
turned into probabilities and back-propagated while they are still in cache, and the full
(N*T, V) logits never exist at once.
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from models.initializers import init_weight

# Rows per block: 512 x V=4000 float32 logits is 8 MB; smaller blocks make the
# (H x rows) @ (rows x V) weight-gradient matmul less efficient. Measured, see bench/next_word.py.
BLOCK_ROWS = 512


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


class SoftmaxOutput:
    """Affine hidden -> vocabulary fused with softmax cross-entropy, processed in row blocks.

    params [W (H, V), b (V,)]. ``forward(hs (N, T, H), targets (N, T))`` returns the mean loss and,
    when ``need_grad``, already computes dW, db and dhs, which ``backward()`` returns.
    ``evaluate`` returns (summed loss, number of correct top-1 predictions) without gradients.
    """

    def __init__(
        self,
        hidden_size: int,
        vocab_size: int,
        rng: Generator,
        *,
        init: str = "xavier",
        init_std: float = 1.0,
        dtype: DTypeLike = np.float32,
        block_rows: int = BLOCK_ROWS,
    ) -> None:
        self.dtype = np.dtype(dtype)
        self.params: list[NDArray] = [
            init_weight(init, rng, (hidden_size, vocab_size), init_std, self.dtype),
            np.zeros(vocab_size, dtype=self.dtype),
        ]
        self.grads: list[NDArray] = [np.zeros_like(p) for p in self.params]
        self.param_names = ["W", "b"]
        self.block_rows = block_rows
        self._dhs: NDArray | None = None

    def _block_probs(self, h: NDArray, targets: NDArray, out: NDArray) -> tuple[NDArray, float]:
        """Softmax of h @ W + b into out (rows, V) in place, and the summed cross-entropy."""
        W, b = self.params
        np.matmul(h, W, out=out)
        out += b
        out -= out.max(axis=1, keepdims=True)
        target_logits = out[np.arange(len(targets)), targets]  # shifted, all <= 0
        np.exp(out, out=out)
        sums = out.sum(axis=1, keepdims=True)
        out /= sums
        # -log p_t = log(sum exp) - logit_t: exact where p_t would underflow in float32
        loss = float((np.log(sums[:, 0]) - target_logits).sum(dtype=np.float64))
        return out, loss

    def forward(self, hs: NDArray, targets: NDArray, need_grad: bool = True) -> float:
        N, T, H = hs.shape
        W = self.params[0]
        V = W.shape[1]
        M = N * T
        h2 = np.ascontiguousarray(hs.reshape(M, H), dtype=self.dtype)
        t2 = targets.reshape(M)
        buf = np.empty((min(self.block_rows, M), V), self.dtype)
        loss_sum = 0.0
        if need_grad:
            dW, db = self.grads
            dW[...] = 0
            db[...] = 0
            dh2 = np.empty((M, H), self.dtype)
        for start in range(0, M, self.block_rows):
            stop = min(start + self.block_rows, M)
            tgt = t2[start:stop]
            probs, block_loss = self._block_probs(h2[start:stop], tgt, buf[: stop - start])
            loss_sum += block_loss
            if need_grad:
                probs[np.arange(stop - start), tgt] -= 1.0  # d block loss / d logits
                dW += h2[start:stop].T @ probs
                db += probs.sum(axis=0)
                np.matmul(probs, W.T, out=dh2[start:stop])
        if need_grad:
            # the loss is a mean over the M targets
            dW /= M
            db /= M
            dh2 /= M
            self._dhs = dh2.reshape(N, T, H)
        return loss_sum / M

    def backward(self) -> NDArray:
        """d mean loss / d hs (N, T, H), computed by forward(need_grad=True)."""
        assert self._dhs is not None, "backward() before forward()"
        return self._dhs

    def evaluate(self, hs: NDArray, targets: NDArray) -> tuple[float, int]:
        """(summed cross-entropy, number of top-1 hits) over hs (N, T, H) and targets (N, T)."""
        N, T, H = hs.shape
        V = self.params[0].shape[1]
        M = N * T
        h2 = np.ascontiguousarray(hs.reshape(M, H), dtype=self.dtype)
        t2 = targets.reshape(M)
        buf = np.empty((min(self.block_rows, M), V), self.dtype)
        loss_sum, hits = 0.0, 0
        for start in range(0, M, self.block_rows):
            stop = min(start + self.block_rows, M)
            tgt = t2[start:stop]
            probs, block_loss = self._block_probs(h2[start:stop], tgt, buf[: stop - start])
            loss_sum += block_loss
            hits += int((probs.argmax(axis=1) == tgt).sum())
        return loss_sum, hits

    def last_step_logits(self, h: NDArray) -> NDArray:
        """Logits (N, V) for hidden states h (N, H): the serving path."""
        W, b = self.params
        return h @ W + b
