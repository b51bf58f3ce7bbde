"""Every binary-addition pair at once, along the tree of bit prefixes.

The reference is a plain forward pass over every pair (a, b), binary_dim steps each. But the
state after step t depends only on the low t + 1 bits of a and b, so pairs that share those
bits share the state: step t has 4^(t+1) distinct states (the top step, whose input bits are
always 0, as many as the step before), and each is computed once. At binary_dim 8 that is
38,228 state updates instead of 8 x 16,384; the logits equal the forward pass's to float
rounding (a test holds them so).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def all_pairs_logits(recurrent: list[Any], out: Any, binary_dim: int) -> NDArray:
    """Logits (high^2, T) of every pair a, b < high = 2^(binary_dim - 1), row a * high + b.

    `recurrent` are the net's stacked Time* layers (stateful, get_state/set_state), `out` the
    per-step affine to one logit. The layers' states are reset afterwards.
    """
    high = 2 ** (binary_dim - 1)
    a, b = np.divmod(np.arange(high * high, dtype=np.int64), high)
    bit_pairs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], out.params[0].dtype)
    was_stateful = [layer.stateful for layer in recurrent]
    node = np.zeros(high * high, np.int64)  # each pair's prefix: its row at this step
    rows = 1  # distinct prefixes so far: the empty one
    logits = np.empty((high * high, binary_dim), np.float32)
    try:
        for layer in recurrent:
            layer.stateful = True
            layer.reset_state()  # the root: zero states
        for t in range(binary_dim):
            if t < binary_dim - 1:  # each prefix gets four children, one per bit pair
                for layer in recurrent:
                    state = layer.get_state()  # empty at the root: zeros of any size
                    layer.set_state({k: np.repeat(v, 4, axis=0) for k, v in state.items()})
                xs = np.tile(bit_pairs, (rows, 1))  # row 4 r + j: parent r, bit pair j
                node = node * 4 + ((a >> t) & 1) * 2 + ((b >> t) & 1)
                rows *= 4
            else:  # the top bits of a and b are always 0: one child each
                xs = np.zeros((rows, 2), bit_pairs.dtype)
            h = xs[:, None, :]  # (rows, 1, 2)
            for layer in recurrent:
                h = layer.forward(h)
            logits[:, t] = out.forward(h)[node, 0, 0]
    finally:
        for layer, stateful in zip(recurrent, was_stateful, strict=True):
            layer.stateful = stateful
            layer.reset_state()
    return logits
