"""The output of a word model: the affine hidden -> vocabulary, then softmax cross-entropy.

    notes: y_t = softmax(W_out z_t + c)       code: logits = hs @ W + b,  loss = CE(logits, t)

``SoftmaxOutput`` in models/fast/softmax.py computes the same numbers in shards and blocks and
is tested against this class.
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from rnnlab.models.layers.affine import TimeAffine
from rnnlab.models.layers.losses import softmax_cross_entropy


class AffineSoftmax:
    """params [W (H, V), b (V,)]; forward(hs (N, T, H), targets (N, T)) -> mean loss."""

    def __init__(
        self,
        hidden_size: int,
        vocab_size: int,
        rng: Generator,
        *,
        init: str = "xavier",
        init_std: float = 1.0,
        dtype: DTypeLike = np.float32,
    ) -> None:
        self.affine = TimeAffine(hidden_size, vocab_size, rng, init, dtype, init_std=init_std)
        self.params = self.affine.params
        self.grads = self.affine.grads
        self.param_names = self.affine.param_names
        self._dlogits: NDArray | None = None

    def forward(self, hs: NDArray, targets: NDArray, need_grad: bool = True) -> float:
        loss, dlogits = softmax_cross_entropy(self.affine.forward(hs), targets)
        self._dlogits = dlogits if need_grad else None
        return loss

    def backward(self) -> NDArray:
        """d mean loss / d hs (N, T, H); writes dW, db."""
        assert self._dlogits is not None, "backward() before forward()"
        return self.affine.backward(self._dlogits)

    def evaluate(self, hs: NDArray, targets: NDArray) -> tuple[float, int]:
        """(summed cross-entropy, number of top-1 hits) over hs (N, T, H) and targets (N, T)."""
        logits = self.affine.forward(hs)
        mean, _ = softmax_cross_entropy(logits, targets)
        hits = int((logits.argmax(axis=-1) == targets).sum())
        return mean * targets.size, hits

    def last_step_logits(self, h: NDArray) -> NDArray:
        """Logits (N, V) for hidden states h (N, H)."""
        W, b = self.params
        return h @ W + b
