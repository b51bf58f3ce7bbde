"""The GRU of models/layers/gru.py, faster: the input part of every step is one matrix product
over the whole window, the loop runs time-major (T, N, 3H) and activates the gates in place (r and
z through tanh, fast/sigmoid.py). Same parameters, names and gate order (r, z, n), and dropout
masks as TimeGRU's."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.fast.sigmoid import sigmoid_
from rnnlab.models.layers.dropout import NO_DROPOUT, SequenceMasks, drop
from rnnlab.models.layers.gru import GRUParameters
from rnnlab.models.layers.time import CarriedState
from rnnlab.models.teaching import RecordsGradientNorms, norm


class FastGRU(GRUParameters, CarriedState, RecordsGradientNorms):
    """Built as GRUCell is (GRUParameters). forward(xs (N, T, D), masks) -> hs (N, T, H);
    backward(dhs) -> dxs; stateful as TimeRecurrent."""

    _cache: tuple[NDArray, ...] | None = None
    _masks: SequenceMasks = NO_DROPOUT

    def forward(self, xs: NDArray, masks: SequenceMasks = NO_DROPOUT) -> NDArray:
        N, T, D = xs.shape
        H = self.hidden_size
        Wx, Wh, b, bh = self.params
        (h0,) = self._initial_state(N)

        xs_tm = np.ascontiguousarray(xs.transpose(1, 0, 2), dtype=self.dtype)  # (T, N, D)
        xs_tm = drop(xs_tm, masks.inputs)
        gates = (xs_tm.reshape(T * N, D) @ Wx).reshape(T, N, 3 * H)  # becomes r, z, n in place
        gates += b
        hn = np.empty((T, N, H), self.dtype)  # h_{t-1} Wh_n + bh, needed by backward
        hs = np.empty((T, N, H), self.dtype)
        h = h0
        for t in range(T):
            a = gates[t]  # (N, 3H)
            ah = drop(h, masks.recurrent) @ Wh  # (N, 3H)
            a[:, : 2 * H] += ah[:, : 2 * H]
            sigmoid_(a[:, : 2 * H])
            r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
            np.add(ah[:, 2 * H :], bh, out=hn[t])
            n += r * hn[t]
            np.tanh(n, out=n)
            # h_t = n + z * (h_{t-1} - n)
            h_new = hs[t]
            np.subtract(h, n, out=h_new)
            h_new *= z
            h_new += n
            h = h_new

        self._cache = (xs_tm, h0, gates, hn, hs)
        self._masks = masks
        self._carry((hs[-1],))
        return hs.transpose(1, 0, 2)  # (N, T, H)

    def backward(self, dhs: NDArray) -> NDArray:
        assert self._cache is not None, "backward() before forward()"
        xs_tm, h0, gates, hn, hs = self._cache
        T, N, D = xs_tm.shape
        H = self.hidden_size
        Wx, Wh = self.params[0], self.params[1]
        WhT = np.ascontiguousarray(Wh.T)
        m_x, m_z = self._masks

        dhs_tm = dhs.transpose(1, 0, 2)  # (T, N, H)
        dax = np.empty((T, N, 3 * H), self.dtype)  # w.r.t. x_t Wx + b
        dah = np.empty((T, N, 3 * H), self.dtype)  # w.r.t. h_{t-1} Wh (+ bh for n)
        dh = np.zeros((N, H), self.dtype)
        norms = self._gradient_norms_buffer(T)
        for t in reversed(range(T)):
            r, z, n = gates[t, :, :H], gates[t, :, H : 2 * H], gates[t, :, 2 * H :]
            h_prev = hs[t - 1] if t > 0 else h0
            dh_t = dhs_tm[t] + dh
            if norms is not None:
                norms[t] = norm(dh_t)
            dn = dh_t * (1.0 - z)
            np.multiply(dn, 1.0 - n * n, out=dax[t, :, 2 * H :])  # d a_n (input side)
            da_n = dax[t, :, 2 * H :]
            np.multiply(da_n * hn[t], r * (1.0 - r), out=dax[t, :, :H])  # d a_r
            np.multiply(dh_t * (h_prev - n), z * (1.0 - z), out=dax[t, :, H : 2 * H])  # d a_z
            dah[t, :, : 2 * H] = dax[t, :, : 2 * H]
            np.multiply(da_n, r, out=dah[t, :, 2 * H :])
            if t > 0:  # the initial state is a constant: no gradient needed for it
                dh = dh_t * z
                dh += drop(dah[t] @ WhT, m_z)

        dax2 = dax.reshape(T * N, 3 * H)
        dah2 = dah.reshape(T * N, 3 * H)
        h_prev_all = drop(np.concatenate([h0[None], hs[:-1]]), m_z).reshape(T * N, H)
        self.grads[0][...] = xs_tm.reshape(T * N, D).T @ dax2
        self.grads[1][...] = h_prev_all.T @ dah2
        self.grads[2][...] = dax2.sum(axis=0)
        self.grads[3][...] = dah2[:, 2 * H :].sum(axis=0)
        dxs = drop((dax2 @ Wx.T).reshape(T, N, D), m_x)
        return dxs.transpose(1, 0, 2)  # (N, T, D)
