"""What the teaching views measure inside a network: ||dL/dh_t|| for each step t of a window.

The views themselves (which records a task keeps, and when) live in each task's teaching.py;
this is the instrument they read, which every recurrent layer carries. It is not a layer: it
adds nothing to the computation, it only looks at it.

BPTT hands each hidden state h_t the gradient of the loss with respect to it (the notes' delta
before the activation's derivative). Its norm step by step shows the vanishing gradient (it
shrinks as it goes back: sigmoid's derivative is at most 0.25) or the exploding one (it grows).

A recurrent layer (the textbook ones and their fast versions) records these norms during its
backward when ``record_gradient_norms`` is set; they are then in ``gradient_norms`` (T,).
Nothing is computed otherwise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class RecordsGradientNorms:
    """Mixin of the recurrent layers: the opt-in record of ||dL/dh_t||."""

    record_gradient_norms: bool = False
    gradient_norms: NDArray | None = None  # (T,) of the last backward, when recorded

    def _gradient_norms_buffer(self, T: int) -> NDArray | None:
        """A fresh (T,) record when recording, else None (and no record left over)."""
        self.gradient_norms = np.zeros(T, np.float64) if self.record_gradient_norms else None
        return self.gradient_norms


def norm(a: NDArray) -> float:
    """The Frobenius norm of a batch's gradient (N, H): the norm of the whole batch's dL/dh_t."""
    return float(np.sqrt(np.vdot(a, a)))


def last_step_gradient_norms(layer: RecordsGradientNorms, dh_last: NDArray, T: int) -> NDArray:
    """||dL_T/dh_t|| for t = 0..T-1: the error of the window's last step, ``dh_last`` =
    dL_T/dh_T (N, H), carried back through the layer's last forward pass alone.

    One more backward of `layer` (its gradients are overwritten: call it before the training
    backward, which writes them afresh); the forward caches, the weights and any random
    generator stay untouched, so training goes on bit for bit as without it.
    """
    dhs = np.zeros((dh_last.shape[0], T, dh_last.shape[1]), dh_last.dtype)
    dhs[:, -1] = dh_last
    layer.record_gradient_norms = True
    try:
        layer.backward(dhs)  # type: ignore[attr-defined]
    finally:
        layer.record_gradient_norms = False
    assert layer.gradient_norms is not None
    return layer.gradient_norms
