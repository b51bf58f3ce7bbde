"""An LSTM frozen for serving: the same numbers as models/layers/lstm.py, for fixed weights.

Three things a server can do that training cannot:
- keep the scaled weight copies of the fused step (fast/lstm.py) instead of making them on
  every call;
- when the inputs are rows of a fixed (V, D) table (an embedding), keep every row's input
  projection x Wx + b, (V, 4H), and look it up instead of multiplying (``forward_ids``), up to
  INPUT_TABLE_BYTES;
- run contexts of different lengths in one pass, sorted longest first, each row stopping after
  its own last word: at step t only the rows still inside their context are computed, so the
  pass costs the sum of the lengths rather than the longest times their number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.fast.lstm import FusedStep, scaled_weights

INPUT_TABLE_BYTES = 64 * 2**20  # the largest input table kept (16k words at H = 256)


class FrozenLSTM:
    """A trained LSTM's params [Wx, Wh, b(, p)] (the reference's or FastLSTM's, same layout).

    forward(xs (N, T, D), lengths) -> hs (N, T, H); no backward. Stateful: without lengths the
    last state is carried to the next call (generation feeds one word at a time).
    """

    def __init__(self, params: Sequence[NDArray], input_vectors: NDArray | None = None) -> None:
        self.dtype = params[0].dtype
        self.hidden_size = params[1].shape[0]
        self.Wx, Wh, self.b = scaled_weights(list(params))
        self.step = FusedStep(Wh, params[3] if len(params) == 4 else None)
        self.input_table: NDArray | None = None  # (V, 4H)
        if input_vectors is not None:
            size = len(input_vectors) * self.Wx.shape[1] * self.dtype.itemsize
            if size <= INPUT_TABLE_BYTES:
                self.input_table = input_vectors.astype(self.dtype) @ self.Wx + self.b
        self.h: NDArray | None = None
        self.c: NDArray | None = None

    def reset_state(self) -> None:
        self.h = self.c = None

    def forward(self, xs: NDArray, lengths: NDArray | None = None) -> NDArray:
        N, T, D = xs.shape
        xs_tm = np.ascontiguousarray(xs.transpose(1, 0, 2), dtype=self.dtype)  # (T, N, D)
        gates = (xs_tm.reshape(T * N, D) @ self.Wx).reshape(T, N, 4 * self.hidden_size)
        gates += self.b
        return self._steps(gates, lengths)

    def forward_ids(self, ids: NDArray, lengths: NDArray | None = None) -> NDArray:
        """``forward`` of the input vectors of ids (N, T), by table lookup."""
        assert self.input_table is not None, "no input table: give input_vectors"
        return self._steps(self.input_table[ids.T], lengths)  # (T, N, 4H), a copy

    def _steps(self, gates: NDArray, lengths: NDArray | None) -> NDArray:
        """The loop over the gates' input part (T, N, 4H), activated in place; hs (N, T, H).

        With ``lengths`` (N,) sorted longest first, row r stops after lengths[r] steps; the
        steps past its end stay zeros (a next layer multiplies them, and uninitialised memory
        could hold NaN or inf), and no state is carried.
        """
        T, N, _ = gates.shape
        H = self.hidden_size
        if lengths is None:
            active = [N] * T
        else:
            assert np.all(np.diff(lengths) <= 0), "lengths must be sorted longest first"
            active = [int(np.count_nonzero(lengths > t)) for t in range(T)]
        cs = np.empty((T, N, H), self.dtype)
        tanh_cs = np.empty((T, N, H), self.dtype)
        hs = (np.empty if lengths is None else np.zeros)((T, N, H), self.dtype)
        h, c = self._initial_state(N)
        for t, n in enumerate(active):
            self.step(gates[t, :n], h[:n], c[:n], cs[t, :n], tanh_cs[t, :n], hs[t, :n])
            h, c = hs[t], cs[t]  # rows n.. are past their end: never read again
        if lengths is None:
            self.h, self.c = hs[-1].copy(), cs[-1].copy()
        else:
            self.reset_state()
        return hs.transpose(1, 0, 2)

    def _initial_state(self, N: int) -> tuple[NDArray, NDArray]:
        if self.h is not None and self.c is not None and len(self.h) == N:
            return self.h, self.c
        zeros = np.zeros((N, self.hidden_size), self.dtype)
        return zeros, zeros.copy()
