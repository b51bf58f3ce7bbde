"""The Elman RNN of models/layers/rnn.py, faster: the input part x_t Wx of every step is one
matrix product over the whole window, and the loop runs time-major (T, N, H), so that each step
reads and writes one contiguous block. Dropout masks as TimeRNN's: the window's inputs are
multiplied by m_x once, before the input product."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.layers.dropout import NO_DROPOUT, SequenceMasks, drop
from rnnlab.models.layers.rnn import RNNParameters
from rnnlab.models.layers.time import CarriedState
from rnnlab.models.teaching import RecordsGradientNorms, norm


class FastRNN(RNNParameters, CarriedState, RecordsGradientNorms):
    """rnnlab.models.layers.rnn.TimeRNN, time-major with one input product for the whole window.

    Built as RNNCell is (RNNParameters). forward(xs (N, T, D), masks) -> hs (N, T, H);
    backward(dhs (N, T, H)) -> dxs (N, T, D); ``dh`` is then the gradient of the initial state.
    ``stateful`` as in TimeRecurrent.
    """

    dh: NDArray | None = None  # (N, H) gradient w.r.t. the initial state, after backward
    _cache: tuple[NDArray, NDArray, NDArray, NDArray] | None = None  # time-major
    _masks: SequenceMasks = NO_DROPOUT

    def forward(self, xs: NDArray, masks: SequenceMasks = NO_DROPOUT) -> NDArray:
        N, T, D = xs.shape
        Wx, Wh = self.params[0], self.params[1]
        H = self.hidden_size
        (h0,) = self._initial_state(N)
        # time-major buffers: each step then reads and writes contiguous (N, H) blocks
        xs_tm = np.ascontiguousarray(xs.transpose(1, 0, 2))
        xs_tm = drop(xs_tm, masks.inputs).reshape(T * N, D)  # (T, N, D) * m_x (N, D)
        # the input projection of every step in one matmul
        us = (xs_tm @ Wx).reshape(T, N, H)
        if self.bias:
            us += self.params[2]
        hs = np.empty((T, N, H), dtype=self.dtype)
        h = h0
        for t in range(T):
            us[t] += drop(h, masks.recurrent) @ Wh  # us[t] now holds the pre-activation u_t
            h = hs[t] = self.act.fn(us[t])
        self._cache = (xs_tm, h0, us, hs)
        self._masks = masks
        self._carry((h,))
        return np.ascontiguousarray(hs.transpose(1, 0, 2))  # (N, T, H)

    def backward(self, dhs: NDArray) -> NDArray:
        assert self._cache is not None, "backward() before forward()"
        xs_tm, h0, us, hs = self._cache
        T, N, H = us.shape
        Wx, Wh = self.params[0], self.params[1]
        m_x, m_z = self._masks
        dhs_tm = dhs.transpose(1, 0, 2)  # (T, N, H) view
        dus = np.empty_like(us)  # (T, N, H)
        dWh = np.zeros_like(Wh)
        dh_next = np.zeros_like(h0)
        norms = self._gradient_norms_buffer(T)
        for t in reversed(range(T)):
            dh = dhs_tm[t] + dh_next  # dL/dh_t
            if norms is not None:
                norms[t] = norm(dh)
            du = dus[t] = dh * self.act.grad(us[t], hs[t])
            h_prev = hs[t - 1] if t > 0 else h0
            dWh += drop(h_prev, m_z).T @ du
            dh_next = drop(du @ Wh.T, m_z)
        dus2 = dus.reshape(T * N, H)
        self.grads[0][...] = xs_tm.T @ dus2
        self.grads[1][...] = dWh
        if self.bias:
            self.grads[2][...] = dus2.sum(axis=0)
        self.dh = dh_next
        D = xs_tm.shape[1]
        dxs = drop((dus2 @ Wx.T).reshape(T, N, D), m_x)
        return np.ascontiguousarray(dxs.transpose(1, 0, 2))
