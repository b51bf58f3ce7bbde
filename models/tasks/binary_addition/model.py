"""The binary-addition network: stacked recurrent layers and a per-step affine to one logit.

    notes:  u_t = W_in x_t + W z_{t-1},   z_t = f(u_t),   y_t = sigmoid(W_out z_t)
    code:   rnn0.Wx = W_in^T, rnn0.Wh = W^T, out.W = W_out^T   (cell rnn; rows: layers/__init__)

The notes' network has no biases (``bias=False``); by default the recurrent layers add b and
the output c (``out.b``). In training, each recurrent layer drops its inputs (``dropout``) and
its recurrent state (``recurrent_dropout``) as Keras's layers do: one mask per sequence, the
same at every bit (models/layers/dropout.py); never at inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.fast.prefix_tree import all_pairs_logits
from rnnlab.models.layers.affine import TimeAffine
from rnnlab.models.layers.dropout import sequence_masks
from rnnlab.models.recurrent import make_recurrent
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import make_inputs
from rnnlab.models.training import copy_weights, load_weights


class BinaryAdditionNet:
    """forward(xs (N, T, 2), rng) -> logits (N, T); backward(dlogits (N, T)) -> dxs (N, T, 2).

    Weights are named "rnn<i>.<param>" for recurrent layer i (whatever its cell) and "out.W",
    "out.b": the keys of saved weights, the same for both implementations.
    """

    def __init__(
        self, config: BinaryAdditionConfig, rng: Generator, dtype: Any = np.float32
    ) -> None:
        self.implementation = config.implementation
        self.dropout_rates = (config.dropout, config.recurrent_dropout)
        self.dtype = np.dtype(dtype)
        self.layers: list[Any] = []
        self.names: list[str] = []
        size = 2
        for i in range(config.num_layers):
            layer = make_recurrent(
                config.cell,
                size,
                config.hidden_size,
                rng,
                implementation=config.implementation,
                activation=config.activation,
                init=config.init,
                init_std=config.init_std,
                dtype=dtype,
                bias=config.bias,
            )
            self.layers.append(layer)
            self.names.append(f"rnn{i}")
            size = config.hidden_size
        self.layers.append(
            TimeAffine(size, 1, rng, config.init, dtype, init_std=config.init_std, bias=config.bias)
        )
        self.names.append("out")
        self.logits: NDArray | None = None  # (N, T) of the last forward
        self.params: list[NDArray] = [p for layer in self.layers for p in layer.params]
        self.grads: list[NDArray] = [g for layer in self.layers for g in layer.grads]
        self.param_names = [
            f"{name}.{p}"
            for name, layer in zip(self.names, self.layers, strict=True)
            for p in layer.param_names
        ]

    def forward(self, xs: NDArray, rng: Generator | None = None) -> NDArray:
        """Dropout only when `rng` is given: each recurrent layer's masks, inputs then
        recurrent, are drawn from it bottom layer first."""
        h = xs
        for layer in self.layers[:-1]:
            N, _, D = h.shape
            masks = sequence_masks(rng, N, D, layer.hidden_size, *self.dropout_rates, self.dtype)
            h = layer.forward(h, masks)
        self.logits = self.layers[-1].forward(h)[:, :, 0]  # (N, T)
        return self.logits

    def backward(self, dlogits: NDArray) -> NDArray:
        d = dlogits[:, :, None]
        for layer in reversed(self.layers):
            d = layer.backward(d)
        return d

    def all_pairs_logits(self, binary_dim: int) -> NDArray:
        """Logits (high^2, T) of every pair a, b < high = 2^(binary_dim - 1), row a * high + b:
        along the tree of bit prefixes (models/fast/prefix_tree.py) on the fast implementation,
        a plain forward pass over every pair on the reference one."""
        if self.implementation == "fast":
            return all_pairs_logits(self.layers[:-1], self.layers[-1], binary_dim)
        high = 2 ** (binary_dim - 1)
        a, b = np.divmod(np.arange(high * high, dtype=np.int64), high)
        return self.forward(make_inputs(a, b, binary_dim)).astype(np.float32, copy=False)

    def weights(self) -> dict[str, NDArray]:
        return copy_weights(self.param_names, self.params)

    def load_weights(self, weights: Mapping[str, NDArray]) -> None:
        """Copy `weights` in place; ValueError on missing names or wrong shapes."""
        load_weights(self.param_names, self.params, weights)
