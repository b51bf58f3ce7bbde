"""Word embedding: a lookup of rows of W by id, the memory-cheap equivalent of one-hot @ W."""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray


def scatter_add_rows(out: NDArray, ids: NDArray, rows: NDArray) -> None:
    """out[ids[k]] += rows[k] for every k, repeated ids accumulating.

    The same as ``np.add.at(out, ids, rows)`` (a test holds them equal), which is the plain way
    to write it but slower: here the ids are sorted and each run of equal ids summed with
    ``np.add.reduceat``, in the order the ids came (a stable sort).
    """
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    uniq, starts = np.unique(sorted_ids, return_index=True)
    out[uniq] += np.add.reduceat(rows[order], starts, axis=0)


class Embedding:
    """ids (N, T) int -> vectors (N, T, E); params [W (V, E)] drawn from N(0, std^2).

    The notes' E.dot(w) of a one-hot w is row w of E: a lookup, never a (N, T, V) one-hot.
    std defaults to 1.0 as in torch.nn.Embedding: the book's 0.01 leaves the recurrent input
    tiny, and a word model then learns markedly slower in its first epochs.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        rng: Generator,
        dtype: DTypeLike = np.float32,
        std: float = 1.0,
    ) -> None:
        self.dtype = np.dtype(dtype)
        W = (std * rng.standard_normal((vocab_size, embedding_size))).astype(self.dtype)
        self.params: list[NDArray] = [W]
        self.grads: list[NDArray] = [np.zeros_like(W)]
        self.param_names = ["W"]
        self._ids: NDArray | None = None

    def forward(self, ids: NDArray) -> NDArray:
        self._ids = ids
        return self.params[0][ids]  # (N, T, E)

    def backward(self, dout: NDArray) -> None:
        """Accumulates dW from dout (N, T, E); ids have no gradient, so nothing is returned."""
        assert self._ids is not None, "backward() before forward()"
        dW = self.grads[0]
        dW[...] = 0
        E = dW.shape[1]
        scatter_add_rows(dW, self._ids.ravel(), dout.reshape(-1, E))
