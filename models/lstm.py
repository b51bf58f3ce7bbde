"""Long short-term memory over a window, batch-first, with optional peephole connections.

Gate order in the fused matrices is torch's (i, f, g, o), so torch.nn.LSTM weights copy as
``Wx = weight_ih_l0.T``, ``Wh = weight_hh_l0.T``, ``b = bias_ih_l0 + bias_hh_l0``:

    a = x_t Wx + h_{t-1} Wh + b                       # (N, 4H), split into i, f, g, o
    i = sigmoid(a_i [+ p_i * c_{t-1}])                # input gate
    f = sigmoid(a_f [+ p_f * c_{t-1}])                # forget gate
    g = tanh(a_g)                                     # candidate cell
    c_t = f * c_{t-1} + i * g                         # constant error carousel
    o = sigmoid(a_o [+ p_o * c_t])                    # output gate
    h_t = o * tanh(c_t)

The bracketed terms are the diagonal peepholes (``peephole=True``; parameter ``p`` of shape (3, H),
rows i, f, o). The forget-gate bias starts at 1.0 (the notes' ``forget_bias``) so that early in
training the cell remembers instead of forgetting.

Internally the window runs time-major (T, N, ...) so that each step touches contiguous memory.
"""

from __future__ import annotations

import numpy as np
from numpy.random import Generator
from numpy.typing import DTypeLike, NDArray

from models.initializers import init_weight
from models.parallel import parallel_map, shard_slices

FORGET_BIAS = 1.0
INPUT_TABLE_BYTES = 64 * 2**20  # the largest input table freeze() keeps (16k words at H = 256)


def sigmoid_(x: NDArray) -> NDArray:
    """In-place logistic via tanh: overflow-free and one transcendental call."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


class TimeLSTM:
    """LSTM over T steps: forward(xs (N, T, D)) -> hs (N, T, H); backward(dhs) -> dxs (N, T, D).

    With ``stateful = True`` the final (h, c) of one forward() is the initial state of the next
    (truncated BPTT: the carried state is a constant for backward). It is dropped when the batch
    size changes.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        rng: Generator,
        *,
        init: str = "xavier",
        init_std: float = 1.0,
        peephole: bool = False,
        dtype: DTypeLike = np.float32,
    ) -> None:
        D, H = input_size, hidden_size
        self.dtype = np.dtype(dtype)
        self.hidden_size = H
        self.peephole = peephole
        b = np.zeros(4 * H, dtype=self.dtype)
        b[H : 2 * H] = FORGET_BIAS
        self.params: list[NDArray] = [
            init_weight(init, rng, (D, 4 * H), init_std, self.dtype),  # Wx (D, 4H)
            init_weight(init, rng, (H, 4 * H), init_std, self.dtype),  # Wh (H, 4H)
            b,  # (4H,)
        ]
        self.param_names = ["Wx", "Wh", "b"]
        if peephole:
            self.params.append(np.zeros((3, H), dtype=self.dtype))  # rows: i, f, o
            self.param_names.append("p")
        self.grads: list[NDArray] = [np.zeros_like(p) for p in self.params]
        self.stateful = False
        self.h: NDArray | None = None  # (N, H) carried hidden state
        self.c: NDArray | None = None  # (N, H) carried cell state
        self._cache: tuple[NDArray, ...] | None = None
        self._frozen: tuple[NDArray, NDArray, NDArray] | None = None  # see freeze()
        self._input_table: NDArray | None = None  # (V, 4H), see freeze()

    def freeze(self, input_vectors: NDArray | None = None) -> None:
        """Keep the scaled weight copies between forward passes: for serving, where the weights
        no longer change (a 5-word next-word prediction: 193 -> 130 us).

        With the (V, D) vectors the inputs are drawn from (an embedding), also keep every
        input's gate contribution x Wx + b, (V, 4H), when it takes at most INPUT_TABLE_BYTES:
        ``forward_ids`` then looks the input projection up instead of multiplying it (a
        quarter of a batched next-word pass).
        """
        self._frozen = Wx, _, b = self._scaled_weights()
        if input_vectors is not None:
            size = len(input_vectors) * Wx.shape[1] * self.dtype.itemsize
            if size <= INPUT_TABLE_BYTES:
                self._input_table = input_vectors.astype(self.dtype) @ Wx + b

    # -- state ---------------------------------------------------------------------------------
    def reset_state(self) -> None:
        self.h = self.c = None

    def get_state(self) -> dict[str, NDArray]:
        if self.h is None or self.c is None:
            return {}
        return {"h": self.h.copy(), "c": self.c.copy()}

    def set_state(self, d: dict[str, NDArray]) -> None:
        if d.get("h") is None or d.get("c") is None:
            self.reset_state()
            return
        self.h = np.array(d["h"], dtype=self.dtype)
        self.c = np.array(d["c"], dtype=self.dtype)

    def _initial_state(self, N: int) -> tuple[NDArray, NDArray]:
        H = self.hidden_size
        if self.stateful and self.h is not None and self.c is not None and len(self.h) == N:
            return self.h, self.c
        return np.zeros((N, H), self.dtype), np.zeros((N, H), self.dtype)

    # -- forward -------------------------------------------------------------------------------
    def _gate_affine(self) -> tuple[NDArray, NDArray]:
        """Per-column (scale, shift) (4H,) making tanh give all four gates: 0.5 tanh(x/2) + 0.5 is
        sigmoid(x) for i, f, o; scale 1, shift 0 keeps tanh for g. The x/2 is folded into scaled
        copies of the weights (exact: a power of two), so the gates take 4 ufunc passes per step
        instead of 9 (two sigmoids of 4 passes each plus a tanh)."""
        H = self.hidden_size
        scale = np.full(4 * H, 0.5, self.dtype)
        scale[2 * H : 3 * H] = 1.0
        shift = np.full(4 * H, 0.5, self.dtype)
        shift[2 * H : 3 * H] = 0.0
        return scale, shift

    def forward(self, xs: NDArray, lengths: NDArray | None = None) -> NDArray:
        """hs (N, T, H) for xs (N, T, D); see ``_steps`` for ``lengths``."""
        N, T, D = xs.shape
        Wx, Wh, b = self._weights()
        xs_tm = np.ascontiguousarray(xs.transpose(1, 0, 2), dtype=self.dtype)  # (T, N, D)
        # The input projection of every step in one matmul; the loop adds h_{t-1} Wh.
        gates = (xs_tm.reshape(T * N, D) @ Wx).reshape(T, N, 4 * self.hidden_size)
        gates += b
        return self._steps(gates, Wh, xs_tm, lengths)

    def has_input_table(self) -> bool:
        return self._input_table is not None

    def forward_ids(self, ids: NDArray, lengths: NDArray | None = None) -> NDArray:
        """``forward`` of the frozen input vectors of ids (N, T), by table lookup (serving only:
        there is no backward pass after it)."""
        assert self._input_table is not None and self._frozen is not None, "freeze() first"
        gates = self._input_table[ids.T]  # (T, N, 4H), a copy that the loop activates
        return self._steps(gates, self._frozen[1], None, lengths)

    def _weights(self) -> tuple[NDArray, NDArray, NDArray]:
        """Wx, Wh, b scaled for the one-tanh gates: the frozen copies, else made now."""
        return self._frozen or self._scaled_weights()

    def _scaled_weights(self) -> tuple[NDArray, NDArray, NDArray]:
        scale, _ = self._gate_affine()  # (4H,), see _gate_affine
        Wx, Wh, b = (q * scale for q in self.params[:3])
        return Wx, Wh, b

    def _steps(
        self, gates: NDArray, Wh: NDArray, xs_tm: NDArray | None, lengths: NDArray | None
    ) -> NDArray:
        """The time loop over the input part of the gates (T, N, 4H), which it activates in
        place, with the scaled Wh (H, 4H); hs (N, T, H). Caches for backward when given xs_tm.

        ``lengths`` (N,), sorted longest first, lets row r stop after its first lengths[r] steps
        (contexts of different lengths in one serving pass): at step t only the rows still inside
        their window are computed, the others' outputs are zeros, and no state is carried. A
        pass of contexts of 1-12 words then costs the sum of their lengths, not 12 times their
        number.
        """
        T, N, _ = gates.shape
        H = self.hidden_size
        scale, shift = self._gate_affine()
        p = self.params[3] * 0.5 if self.peephole else None  # (3, H), scaled like i, f, o
        h0, c0 = self._initial_state(N)
        if lengths is None:
            active = [N] * T
        else:
            assert np.all(np.diff(lengths) <= 0), "lengths must be sorted longest first"
            active = [int(np.count_nonzero(lengths > t)) for t in range(T)]
        cs = np.empty((T, N, H), self.dtype)
        tanh_cs = np.empty((T, N, H), self.dtype)
        # With lengths, the steps past a row's end stay zeros: a next layer multiplies them too
        # (and never reads its results), and uninitialised memory could hold NaN or inf.
        hs = (np.empty if lengths is None else np.zeros)((T, N, H), self.dtype)
        # without peepholes all four gates activate at once; with them o waits for c_t
        width = 4 * H if p is None else 3 * H
        h, c = h0, c0
        for t, n in enumerate(active):
            a = gates[t, :n]  # (n, 4H), becomes the activated gates in place
            h_prev, c_prev = h[:n], c[:n]
            a += h_prev @ Wh
            if p is not None:
                a[:, :H] += c_prev * p[0]
                a[:, H : 2 * H] += c_prev * p[1]
            act = a[:, :width]
            np.tanh(act, out=act)
            act *= scale[:width]
            act += shift[:width]
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            c_t = cs[t, :n]
            np.multiply(f, c_prev, out=c_t)
            c_t += i * g
            if p is not None:
                o += c_t * p[2]  # half the pre-activation: a_o and p were halved
                np.tanh(o, out=o)
                o *= 0.5
                o += 0.5
            np.tanh(c_t, out=tanh_cs[t, :n])
            np.multiply(o, tanh_cs[t, :n], out=hs[t, :n])
            h, c = hs[t], cs[t]  # rows n.. are past their end: never read again

        self._cache = None if xs_tm is None else (xs_tm, h0, c0, gates, cs, tanh_cs, hs)
        if self.stateful:
            if lengths is None:
                self.h, self.c = hs[-1].copy(), cs[-1].copy()
            else:
                self.reset_state()
        return hs.transpose(1, 0, 2)  # (N, T, H) view of the time-major buffer

    # -- backward ------------------------------------------------------------------------------
    def backward(self, dhs: NDArray) -> NDArray:
        assert self._cache is not None, "backward() before forward()"
        xs_tm, h0, c0, gates, cs, tanh_cs, hs = self._cache
        T, N, D = xs_tm.shape
        H = self.hidden_size
        Wx, Wh = self.params[0], self.params[1]
        p = self.params[3] if self.peephole else None
        WhT = np.ascontiguousarray(Wh.T)

        dhs_tm = dhs.transpose(1, 0, 2)  # (T, N, H)
        das = np.empty((T, N, 4 * H), self.dtype)  # gradients w.r.t. the gate pre-activations
        dh = np.zeros((N, H), self.dtype)  # from step t+1 through h_t Wh, then d h_t
        dc = np.zeros((N, H), self.dtype)  # from step t+1 through c_t
        tmp = np.empty((N, H), self.dtype)
        # Every product below writes into a preallocated buffer (out= / in place): no temporary
        # arrays in the loop (the old version allocated ~15 per step).
        for t in reversed(range(T)):
            i, f, g, o = (gates[t, :, k * H : (k + 1) * H] for k in range(4))
            c_prev = cs[t - 1] if t > 0 else c0
            tanh_c = tanh_cs[t]
            da_i, da_f, da_g, da_o = (das[t, :, k * H : (k + 1) * H] for k in range(4))
            dh += dhs_tm[t]  # d h_t
            # dc += dh_t * o * (1 - tanh(c)^2)
            np.multiply(tanh_c, tanh_c, out=tmp)
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

        # Whole-window weight gradients in three matmuls instead of one per step, each split
        # into the same two column halves (gates) on the thread pool: two tasks of equal work
        # (4.8 -> 4.0 ms a step on 2 cores, against a split by product); dxs is the sum of the
        # halves' parts, taken in a fixed order so that the result is thread-independent.
        das2 = das.reshape(T * N, 4 * H)
        xs2 = xs_tm.reshape(T * N, D)
        h_prev = np.concatenate([h0[None], hs[:-1]]).reshape(T * N, H)
        dWx, dWh, db = self.grads[:3]

        def weight_grads(gates: slice) -> NDArray:
            np.matmul(xs2.T, das2[:, gates], out=dWx[:, gates])
            np.matmul(h_prev.T, das2[:, gates], out=dWh[:, gates])
            np.sum(das2[:, gates], axis=0, out=db[gates])
            return das2[:, gates] @ Wx[:, gates].T  # this half's part of dxs

        first, *others = parallel_map(weight_grads, shard_slices(4 * H))
        dxs = first
        for part in others:
            dxs += part
        if p is not None:
            c_prev_all = np.concatenate([c0[None], cs[:-1]])  # (T, N, H)
            self.grads[3][0] = np.einsum("tnh,tnh->h", das[:, :, :H], c_prev_all)
            self.grads[3][1] = np.einsum("tnh,tnh->h", das[:, :, H : 2 * H], c_prev_all)
            self.grads[3][2] = np.einsum("tnh,tnh->h", das[:, :, 3 * H :], cs)
        return dxs.reshape(T, N, D).transpose(1, 0, 2)  # (N, T, D)


def _sigmoid_grad_times(s: NDArray, a: NDArray, b: NDArray, out: NDArray) -> NDArray:
    """out = s (1 - s) a b in place: the sigmoid derivative at activation s times a and b."""
    np.subtract(1.0, s, out=out)
    out *= s
    out *= a
    out *= b
    return out
