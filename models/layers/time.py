"""The loop over time: a one-step cell applied to every step of a window, batch-first.

``TimeRecurrent(cell)`` runs xs (N, T, D) through ``cell`` step by step and returns every hidden
state hs (N, T, H); ``backward(dhs)`` walks the steps in reverse (backpropagation through
time), summing each step's parameter gradients into the cell's ``grads``.

A cell's state is a tuple whose first entry is the hidden state h (RNN, GRU: ``(h,)``; LSTM:
``(h, c)``). With ``stateful = True`` the last state of one forward() is the first state of the
next, which is truncated BPTT: the carried state is a constant for backward, so no gradient
flows into the previous window. The carried state is dropped when the batch size changes.
``CarriedState`` keeps it, for this loop and for the fast layers of models/fast alike.

``forward(xs, masks)`` hands the same dropout masks (layers/dropout.py) to every step: one mask
per sequence, as Keras's ``dropout`` and ``recurrent_dropout``; without masks, no dropout.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.layers.dropout import NO_DROPOUT, SequenceMasks
from rnnlab.models.teaching import RecordsGradientNorms, norm

State = tuple[NDArray, ...]


class Cell(Protocol):
    """One step of a recurrent layer (see rnn.py, lstm.py, gru.py)."""

    params: list[NDArray]
    grads: list[NDArray]
    param_names: list[str]
    state_names: tuple[str, ...]
    hidden_size: int
    dtype: np.dtype

    def forward(self, x: NDArray, state: State, masks: SequenceMasks) -> tuple[State, Any]: ...

    def backward(self, dstate: State, cache: Any) -> tuple[NDArray, State]: ...


class CarriedState:
    """The state a layer carries from one window to the next when ``stateful``: ``state``, one
    (N, H) array per name in ``state_names`` (h first), or None before the first window."""

    state_names: tuple[str, ...]
    hidden_size: int
    dtype: np.dtype
    stateful: bool = False
    state: State | None = None

    def _initial_state(self, N: int) -> State:
        """The carried state when there is one for N rows, else zeros."""
        if self.stateful and self.state is not None and len(self.state[0]) == N:
            return self.state
        return tuple(np.zeros((N, self.hidden_size), self.dtype) for _ in self.state_names)

    def _carry(self, last: State) -> None:
        """Keep a copy of a window's last state for the next window, when stateful."""
        if self.stateful:
            self.state = tuple(s.copy() for s in last)

    def reset_state(self) -> None:
        self.state = None

    def get_state(self) -> dict[str, NDArray]:
        if self.state is None:
            return {}
        return {name: s.copy() for name, s in zip(self.state_names, self.state, strict=True)}

    def set_state(self, d: dict[str, NDArray]) -> None:
        if any(d.get(name) is None for name in self.state_names):
            self.reset_state()
            return
        self.state = tuple(np.array(d[name], dtype=self.dtype) for name in self.state_names)


class TimeRecurrent(CarriedState, RecordsGradientNorms):
    """A cell over T steps: forward(xs (N, T, D), masks) -> hs (N, T, H); backward(dhs) -> dxs."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.params = cell.params  # the very same arrays: one set of weights and gradients
        self.grads = cell.grads
        self.param_names = cell.param_names
        self.state_names = cell.state_names
        self.hidden_size = cell.hidden_size
        self.dtype = cell.dtype
        self._caches: list[Any] = []

    def forward(self, xs: NDArray, masks: SequenceMasks = NO_DROPOUT) -> NDArray:
        N, T, _ = xs.shape
        state = self._initial_state(N)
        hs = np.empty((N, T, self.hidden_size), self.dtype)
        self._caches = []
        for t in range(T):
            state, cache = self.cell.forward(xs[:, t], state, masks)  # the same masks each t
            hs[:, t] = state[0]
            self._caches.append(cache)
        self._carry(state)
        return hs

    def backward(self, dhs: NDArray) -> NDArray:
        assert self._caches, "backward() before forward()"
        N, T, _ = dhs.shape
        for g in self.grads:
            g[...] = 0  # the steps add theirs
        dxs: NDArray | None = None
        dstate: State = tuple(np.zeros((N, self.hidden_size), self.dtype) for _ in self.state_names)
        norms = self._gradient_norms_buffer(T)
        for t in reversed(range(T)):
            dstate = (dstate[0] + dhs[:, t], *dstate[1:])  # h_t feeds the output and step t+1
            if norms is not None:
                norms[t] = norm(dstate[0])  # dL/dh_t
            dx, dstate = self.cell.backward(dstate, self._caches[t])
            if dxs is None:
                dxs = np.empty((N, T, dx.shape[1]), self.dtype)
            dxs[:, t] = dx
        assert dxs is not None
        return dxs
