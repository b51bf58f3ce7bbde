"""The LSTM of models/layers/lstm.py, fused for training speed; the same numbers to float rounding.

What changes against the reference (same parameters, same names, same gate order):
- the window runs time-major (T, N, 4H), and the input part x_t Wx + b of every step is one
  matrix product before the loop, which then adds h_{t-1} Wh;
- all four gates are activated by one tanh pass (fast/sigmoid.py: the sigmoid gates' x/2 is
  folded into copies of Wx, Wh, b), so a step takes four element-wise passes over its gates
  instead of two sigmoids and a tanh;
- the backward pass writes into preallocated buffers, and the whole-window weight gradients are
  three matrix products split into two column halves on the training thread pool
  (rnnlab.models.parallel), summed in a fixed order so that the thread count never changes a number.

Dropout masks as TimeLSTM's: the window's inputs are multiplied by m_x once, before the input
product; each step hands the fused step m_z * h_{t-1}, which only meets Wh there.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.fast.sigmoid import GateActivation, halved, sigmoid_of_halved_
from rnnlab.models.layers.dropout import NO_DROPOUT, SequenceMasks, drop
from rnnlab.models.layers.lstm import LSTMParameters
from rnnlab.models.layers.time import CarriedState
from rnnlab.models.parallel import parallel_map, shard_slices
from rnnlab.models.teaching import RecordsGradientNorms, norm


class FastLSTM(LSTMParameters, CarriedState, RecordsGradientNorms):
    """Built as LSTMCell is (LSTMParameters). forward(xs (N, T, D), masks) -> hs (N, T, H);
    backward(dhs) -> dxs; stateful as TimeRecurrent."""

    _cache: tuple[NDArray, ...] | None = None
    _masks: SequenceMasks = NO_DROPOUT

    # -- forward -------------------------------------------------------------------------------
    def forward(self, xs: NDArray, masks: SequenceMasks = NO_DROPOUT) -> NDArray:
        N, T, D = xs.shape
        Wx, Wh, b = scaled_weights(self.params)
        xs_tm = np.ascontiguousarray(xs.transpose(1, 0, 2), dtype=self.dtype)  # (T, N, D)
        xs_tm = drop(xs_tm, masks.inputs)
        gates = (xs_tm.reshape(T * N, D) @ Wx).reshape(T, N, 4 * self.hidden_size)
        gates += b
        h0, c0 = self._initial_state(N)
        H = self.hidden_size
        cs = np.empty((T, N, H), self.dtype)
        tanh_cs = np.empty((T, N, H), self.dtype)
        hs = np.empty((T, N, H), self.dtype)
        step = FusedStep(Wh, self.params[3] if self.peephole else None)
        h, c = h0, c0
        for t in range(T):
            step(gates[t], drop(h, masks.recurrent), c, cs[t], tanh_cs[t], hs[t])
            h, c = hs[t], cs[t]
        self._cache = (xs_tm, h0, c0, gates, cs, tanh_cs, hs)
        self._masks = masks
        self._carry((hs[-1], cs[-1]))
        return hs.transpose(1, 0, 2)  # (N, T, H) view of the time-major buffer

    # -- backward ------------------------------------------------------------------------------
    def backward(self, dhs: NDArray) -> NDArray:
        assert self._cache is not None, "backward() before forward()"
        das = self._gate_gradients(dhs.transpose(1, 0, 2))  # (T, N, 4H)
        dxs = self._weight_gradients(das)
        T, N, D = self._cache[0].shape
        return drop(dxs.reshape(T, N, D), self._masks.inputs).transpose(1, 0, 2)  # (N, T, D)

    def _gate_gradients(self, dhs_tm: NDArray) -> NDArray:
        """d loss / d gate pre-activations (T, N, 4H), walking the steps backwards. Every
        product writes into a preallocated buffer (out= or in place): no temporaries per step."""
        _, _, c0, gates, cs, tanh_cs, _ = self._cache  # type: ignore[misc]
        T, N, _ = gates.shape
        H = self.hidden_size
        p = self.params[3] if self.peephole else None
        WhT = np.ascontiguousarray(self.params[1].T)
        m_z = self._masks.recurrent
        das = np.empty((T, N, 4 * H), self.dtype)
        dh = np.zeros((N, H), self.dtype)  # from step t+1 through h_t Wh, then d h_t
        dc = np.zeros((N, H), self.dtype)  # from step t+1 through c_t
        tmp = np.empty((N, H), self.dtype)
        norms = self._gradient_norms_buffer(T)
        for t in reversed(range(T)):
            i, f, g, o = (gates[t, :, k * H : (k + 1) * H] for k in range(4))
            c_prev = cs[t - 1] if t > 0 else c0
            tanh_c = tanh_cs[t]
            da_i, da_f, da_g, da_o = (das[t, :, k * H : (k + 1) * H] for k in range(4))
            dh += dhs_tm[t]  # d h_t
            if norms is not None:
                norms[t] = norm(dh)
            np.multiply(tanh_c, tanh_c, out=tmp)  # dc += dh_t o (1 - tanh(c)^2)
            np.subtract(1.0, tmp, out=tmp)
            tmp *= o
            tmp *= dh
            dc += tmp
            _sigmoid_grad_times(o, tanh_c, dh, out=da_o)  # dh_t tanh(c) o (1 - o)
            if p is not None:
                np.multiply(da_o, p[2], out=tmp)
                dc += tmp
            _sigmoid_grad_times(i, g, dc, out=da_i)  # dc g i (1 - i)
            _sigmoid_grad_times(f, c_prev, dc, out=da_f)  # dc c_{t-1} f (1 - f)
            np.multiply(g, g, out=da_g)  # dc i (1 - g^2)
            np.subtract(1.0, da_g, out=da_g)
            da_g *= i
            da_g *= dc
            dc *= f
            if p is not None:
                dc += da_i * p[0] + da_f * p[1]
            if t > 0:  # the initial state is a constant: no gradient needed for it
                np.matmul(das[t], WhT, out=dh)
                if m_z is not None:
                    dh *= m_z
        return das

    def _weight_gradients(self, das: NDArray) -> NDArray:
        """dWx, dWh, db (and dp) of the whole window, written in place; dxs (T * N, D).

        The three products are split into the same two column halves (gates) on the thread
        pool: two tasks of equal work. dxs is the sum of the halves' parts in a fixed order.
        """
        xs_tm, h0, c0, _, cs, _, hs = self._cache  # type: ignore[misc]
        T, N, D = xs_tm.shape
        H = self.hidden_size
        Wx = self.params[0]
        das2 = das.reshape(T * N, 4 * H)
        xs2 = xs_tm.reshape(T * N, D)
        h_prev = drop(np.concatenate([h0[None], hs[:-1]]), self._masks.recurrent)
        h_prev = h_prev.reshape(T * N, H)
        dWx, dWh, db = self.grads[:3]

        def weight_grads(cols: slice) -> NDArray:
            np.matmul(xs2.T, das2[:, cols], out=dWx[:, cols])
            np.matmul(h_prev.T, das2[:, cols], out=dWh[:, cols])
            np.sum(das2[:, cols], axis=0, out=db[cols])
            return das2[:, cols] @ Wx[:, cols].T  # this half's part of dxs

        first, *others = parallel_map(weight_grads, shard_slices(4 * H))
        dxs = first
        for part in others:
            dxs += part
        if self.peephole:
            c_prev_all = np.concatenate([c0[None], cs[:-1]])  # (T, N, H)
            self.grads[3][0] = np.einsum("tnh,tnh->h", das[:, :, :H], c_prev_all)
            self.grads[3][1] = np.einsum("tnh,tnh->h", das[:, :, H : 2 * H], c_prev_all)
            self.grads[3][2] = np.einsum("tnh,tnh->h", das[:, :, 3 * H :], cs)
        return dxs


LSTM_GATES = "ssts"  # i, f, g, o: sigmoids but for the candidate g (see GateActivation)


def scaled_weights(params: list[NDArray]) -> tuple[NDArray, NDArray, NDArray]:
    """Copies of an LSTM's Wx, Wh, b with the sigmoid gates' columns halved (GateActivation)."""
    Wx = params[0]
    gates = GateActivation(LSTM_GATES, Wx.shape[1] // 4, Wx.dtype)
    halved_Wx, halved_Wh, halved_b = (gates.halve(q) for q in params[:3])
    return halved_Wx, halved_Wh, halved_b


class FusedStep:
    """One LSTM step on the rows given, with the scaled Wh (H, 4H) and the unscaled peepholes
    p (3, H) or None; shared by FastLSTM and the serving loop of serving_lstm.py."""

    def __init__(self, Wh: NDArray, p: NDArray | None) -> None:
        H = Wh.shape[0]
        self.H, self.Wh = H, Wh
        self.gates = GateActivation(LSTM_GATES, H, Wh.dtype)
        self.p = None if p is None else halved(p)  # the peepholes feed i, f, o: sigmoids
        # without peepholes all four gates activate at once; with them o waits for c_t
        self.width = 4 * H if self.p is None else 3 * H

    def __call__(
        self,
        a: NDArray,
        h_prev: NDArray,
        c_prev: NDArray,
        c_t: NDArray,
        tanh_c: NDArray,
        h_t: NDArray,
    ) -> None:
        """a: the gates' input part (n, 4H), activated in place; writes c_t, tanh(c_t), h_t."""
        H, p, width = self.H, self.p, self.width
        a += h_prev @ self.Wh
        if p is not None:
            a[:, :H] += c_prev * p[0]
            a[:, H : 2 * H] += c_prev * p[1]
        self.gates.activate_(a[:, :width])
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        np.multiply(f, c_prev, out=c_t)
        c_t += i * g
        if p is not None:
            o += c_t * p[2]  # half the pre-activation: a_o and p were halved
            sigmoid_of_halved_(o)
        np.tanh(c_t, out=tanh_c)
        np.multiply(o, tanh_c, out=h_t)


def _sigmoid_grad_times(s: NDArray, a: NDArray, b: NDArray, out: NDArray) -> NDArray:
    """out = s (1 - s) a b in place: the sigmoid derivative at activation s times a and b."""
    np.subtract(1.0, s, out=out)
    out *= s
    out *= a
    out *= b
    return out
