"""The next-word model (notes, s.4), without one-hot tensors:

    Embedding (V -> E) -> num_layers recurrent layers (lstm, gru or rnn) -> affine (H -> V)
    -> softmax cross-entropy.

The notes' input projection of a one-hot word is the embedding's row lookup. In training, each
recurrent layer drops its inputs (``dropout``) and its recurrent state (``recurrent_dropout``)
as Keras's layers do: one mask per sequence of the window, the same at every step
(models/layers/dropout.py), drawn from the run's generator; never at inference.

With ``tie_weights`` (Press and Wolf, 2017; the PyTorch word-language-model's ``--tied``) the
output layer's W_out is the embedding matrix itself: out.W is a view of embed.W transposed
(E = H), the output bias stays its own. The loss then reaches the one matrix along two paths,
so its gradient is the sum of the two layers' gradients, dE = dE_embedding + dW_out^T; it is
stored, trained and saved once, as "embed.W".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.layers.dropout import sequence_masks
from rnnlab.models.layers.embedding import Embedding
from rnnlab.models.recurrent import make_output, make_recurrent
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.teaching import last_step_gradient_norms
from rnnlab.models.training import copy_weights, load_weights


def _embedding_std(config: NextWordConfig) -> float:
    """The spread of the initial embedding: torch's 1.0 (see layers/embedding.py), but 1 / sqrt(E)
    when the matrix is the output layer's too: a first logit, the sum of E products of a state
    unit (|h| <= 1) and a weight of variance 1 / E, is then at most of unit scale. With 1.0 the
    first logits spread over tens of nats, and on the demo corpus (128 units) the tied model
    overfitted at once: best validation perplexity 107, against 54 with 1 / sqrt(E)."""
    return float(1.0 / np.sqrt(config.embedding_size)) if config.tie_weights else 1.0


class NextWordModel:
    """Embedding -> recurrent layers (with dropout) -> affine + softmax, flat params/grads lists.

    Weights are named "embed.W", "<cell><i>.<param>" and "out.W", "out.b" (no "out.W" when the
    weights are tied): the keys of saved weights, the same for both implementations.
    """

    def __init__(
        self, config: NextWordConfig, vocab_size: int, rng: Generator, dtype: Any = np.float32
    ) -> None:
        self.config = config
        self.vocab_size = vocab_size
        self.embed = Embedding(
            vocab_size, config.embedding_size, rng, dtype, std=_embedding_std(config)
        )
        self.dtype = np.dtype(dtype)
        self.recurrent: list[Any] = []
        size = config.embedding_size
        for _ in range(config.num_layers):
            options: dict[str, Any] = {"peephole": True} if config.peephole else {}
            self.recurrent.append(
                make_recurrent(
                    config.cell,
                    size,
                    config.hidden_size,
                    rng,
                    implementation=config.implementation,
                    init=config.init,
                    dtype=dtype,
                    **options,
                )
            )
            size = config.hidden_size
        self.out = make_output(
            config.hidden_size,
            vocab_size,
            rng,
            implementation=config.implementation,
            init=config.init,
            dtype=dtype,
        )

        if config.tie_weights:
            # the output layer's own draw is dropped; its grads[0] keeps that layer's share
            self.out.params[0] = self.embed.params[0].T

        self.layers: list[tuple[str, Any]] = [("embed", self.embed)]
        self.layers += [(f"{config.cell}{i}", layer) for i, layer in enumerate(self.recurrent)]
        self.layers.append(("out", self.out))
        owned = [
            (f"{prefix}.{n}", p, g)
            for prefix, layer in self.layers
            for n, p, g in zip(layer.param_names, layer.params, layer.grads, strict=True)
            if not (config.tie_weights and f"{prefix}.{n}" == "out.W")
        ]
        self.names = [name for name, _, _ in owned]
        self.params = [p for _, p, _ in owned]
        self.grads = [g for _, _, g in owned]
        self.gradient_norms: NDArray | None = None  # of the last traced train_step

    # -- state ---------------------------------------------------------------------------------
    def set_stateful(self, stateful: bool) -> None:
        for layer in self.recurrent:
            layer.stateful = stateful

    def reset_state(self) -> None:
        for layer in self.recurrent:
            layer.reset_state()

    def get_state(self) -> dict[str, NDArray]:
        return {
            f"{self.config.cell}{i}.{k}": v
            for i, layer in enumerate(self.recurrent)
            for k, v in layer.get_state().items()
        }

    def set_state(self, state: Mapping[str, NDArray]) -> None:
        for i, layer in enumerate(self.recurrent):
            prefix = f"{self.config.cell}{i}."
            layer.set_state({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})

    def weights(self) -> dict[str, NDArray]:
        return copy_weights(self.names, self.params)

    def load_weights(self, weights: Mapping[str, NDArray]) -> None:
        load_weights(self.names, self.params, weights)

    # -- passes --------------------------------------------------------------------------------
    def hidden(self, ids: NDArray, rng: Generator | None = None) -> NDArray:
        """Top recurrent layer's output (N, T, H) for ids (N, T); dropout only when rng is given:
        each layer's masks, inputs then recurrent, are drawn from it bottom layer first."""
        rates = (self.config.dropout, self.config.recurrent_dropout)
        x = self.embed.forward(ids)
        for layer in self.recurrent:
            N, _, D = x.shape
            masks = sequence_masks(rng, N, D, layer.hidden_size, *rates, self.dtype)
            x = layer.forward(x, masks)
        return x

    def train_step(
        self, ids: NDArray, targets: NDArray, rng: Generator, trace: bool = False
    ) -> float:
        """Forward and backward over one batch; fills self.grads and returns the mean loss.

        targets (N, T') with T' <= T: the loss is on the last T' steps (T' = 1 in chunk mode).
        With `trace`, self.gradient_norms is then ||dL_T/dh_t|| of the top recurrent layer for
        each step t: the last step's loss travelling back in time (models/teaching.py).
        """
        hs = self.hidden(ids, rng)
        T = hs.shape[1]
        last = targets.shape[1]
        loss = self.out.forward(hs[:, T - last :], targets)
        dtop = self.out.backward()
        if last < T:
            dhs = np.zeros_like(hs)
            dhs[:, T - last :] = dtop
        else:
            dhs = dtop
        if trace:
            self.gradient_norms = last_step_gradient_norms(self.recurrent[-1], dhs[:, -1], T)
        for layer in reversed(self.recurrent):
            dhs = layer.backward(dhs)
        self.embed.backward(dhs)
        if self.config.tie_weights:
            self.embed.grads[0] += self.out.grads[0].T  # the output layer's share of dE
        return loss

    def evaluate_batch(self, ids: NDArray, targets: NDArray) -> tuple[float, int, int]:
        """(summed loss, top-1 hits, predictions) without dropout or gradients."""
        hs = self.hidden(ids)
        last = targets.shape[1]
        loss_sum, hits = self.out.evaluate(hs[:, hs.shape[1] - last :], targets)
        return loss_sum, hits, targets.size
