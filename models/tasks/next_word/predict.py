"""Serving a trained next-word model: next-word distributions (batched) and generated text.

Answers come from the fast layers, whatever trained the weights, with the serving speed-ups of
models/fast: an LSTM frozen with its input projection looked up (serving_lstm.py), contexts of
similar lengths in one pass (length_groups.py), the top k found without a full sort (ranking.py).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.fast.length_groups import length_groups
from rnnlab.models.fast.ranking import top_k_indices
from rnnlab.models.fast.serving_lstm import FrozenLSTM
from rnnlab.models.layers.losses import softmax
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.sampling import sample


class NextWordPredictor:
    """Next-word distributions and sampled continuations of a model (no dropout).

    It carries its recurrent state between calls: one caller at a time, or one
    `with_own_state()` copy per caller.
    """

    def __init__(self, model: NextWordModel) -> None:
        self.model = model
        self.vocab_size = model.vocab_size
        self.embedding = model.embed.params[0]
        self.layers: list[Any] = []
        for i, layer in enumerate(model.recurrent):
            if model.config.cell == "lstm":  # the first one's inputs are embedding rows
                layer = FrozenLSTM(layer.params, self.embedding if i == 0 else None)
            else:
                layer.stateful = True  # generation feeds one word at a time
            self.layers.append(layer)

    @classmethod
    def from_weights(
        cls, config: NextWordConfig, weights: Mapping[str, NDArray], vocab_size: int
    ) -> NextWordPredictor:
        config = dataclasses.replace(config, implementation="fast")
        # the initial draw is overwritten by the weights; the seed only makes it cheap and fixed
        model = NextWordModel(config, vocab_size, np.random.default_rng(0))
        model.load_weights(weights)
        return cls(model)

    def reset_state(self) -> None:
        for layer in self.layers:
            layer.reset_state()

    def with_own_state(self) -> NextWordPredictor:
        """A predictor on the same weights (shared, never copied) with recurrent state of its
        own: a generation runs on it while other callers use this one, neither waiting.

        The layers' forward passes only read their weights and replace (never write into)
        their state and caches, so a shallow copy of each layer is all a caller needs.
        """
        twin = copy.copy(self)
        twin.layers = [copy.copy(layer) for layer in self.layers]
        twin.reset_state()
        return twin

    def _hidden(self, ids: NDArray, lengths: NDArray | None = None) -> NDArray:
        """The top layer's output (N, T, H) for ids (N, T). Given ``lengths`` sorted longest
        first, each LSTM stops a row after its own length (other cells run the padding too,
        whose outputs are never read)."""
        first, *others = self.layers
        if isinstance(first, FrozenLSTM) and first.input_table is not None:
            x = first.forward_ids(ids, lengths)
        else:
            x = _forward(first, self.embedding[ids], lengths)
        for layer in others:
            x = _forward(layer, x, lengths)
        return x

    def _feed(self, ids: NDArray) -> NDArray:
        """Run ids (T,) from the carried state; the logits (V,) after the last one."""
        hs = self._hidden(ids.reshape(1, -1))
        return self.model.out.last_step_logits(hs[:, -1])[0]

    def _checked(self, ids: Sequence[int]) -> NDArray:
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if arr.size == 0:
            raise ValueError("the context is empty: give at least one word")
        if int(arr.min()) < 0 or int(arr.max()) >= self.vocab_size:
            raise ValueError(f"word ids must lie in [0, {self.vocab_size})")
        return arr

    def next_logits(self, contexts: Sequence[Sequence[int]]) -> NDArray:
        """Logits (len(contexts), V) of the word after each context, in one batched pass.

        Contexts of any lengths share the pass, sorted longest first: each row runs from a zero
        state and its logits are read after its own last word. A row's numbers match its
        context alone to float32 rounding, not bit for bit: a BLAS kernel sums a row's products
        in an order that depends on where the row falls in its tiles.
        """
        if not contexts:
            raise ValueError("no context given")
        arrays = [self._checked(ids) for ids in contexts]
        order = np.argsort([-len(a) for a in arrays], kind="stable")  # longest first
        lengths = np.array([len(arrays[i]) for i in order])
        ids = np.zeros((len(arrays), int(lengths[0])), np.int64)
        for row, i in enumerate(order):
            ids[row, : lengths[row]] = arrays[i]
        self.reset_state()
        hs = self._hidden(ids, lengths)  # (rows, T, H)
        final = hs[np.arange(len(arrays)), lengths - 1]  # (rows, H): each at its own last word
        logits = np.empty((len(arrays), self.vocab_size), final.dtype)
        logits[order] = self.model.out.last_step_logits(final)
        return logits

    def next_distribution(self, ids: Sequence[int]) -> NDArray:
        """Probabilities (V,) of the word following the context ids."""
        return softmax(self.next_logits([ids])[0])

    def most_likely(self, ids: Sequence[int], k: int) -> tuple[NDArray, NDArray]:
        """The k most likely ids after the context (most likely first) and their probabilities."""
        return self.most_likely_many([ids], [k])[0]

    def most_likely_many(
        self, contexts: Sequence[Sequence[int]], ks: Sequence[int]
    ) -> list[tuple[NDArray, NDArray]]:
        """``most_likely`` of several contexts, in one batched pass per group of similar
        lengths: concurrent requests share the per-step cost and the read of the output weights."""
        if len(ks) != len(contexts):
            raise ValueError("give one k per context")
        for k in ks:
            if not 1 <= k <= self.vocab_size:
                raise ValueError(f"k must be from 1 to {self.vocab_size}")
        answers: dict[int, tuple[NDArray, NDArray]] = {}
        for group in length_groups([len(c) for c in contexts]):
            logits = self.next_logits([contexts[i] for i in group])  # (n, V)
            exps = np.exp(logits - logits.max(axis=1, keepdims=True))
            sums = exps.sum(axis=1)
            for row, i in enumerate(group):
                top = top_k_indices(logits[row], ks[i])
                answers[i] = (top, exps[row, top] / sums[row])  # k divisions, not V
        return [answers[i] for i in range(len(contexts))]

    def generate(
        self,
        ids: Sequence[int],
        words: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: Generator | None = None,
        banned: Sequence[int] = (),
    ) -> list[int]:
        """Sample ``words`` ids continuing the context (see sampling.sample)."""
        if words < 0:
            raise ValueError("words must be >= 0")
        if not temperature >= 0 or not np.isfinite(temperature):
            raise ValueError("temperature must be a number >= 0")
        if top_k is not None and not 1 <= top_k <= self.vocab_size:
            raise ValueError(f"top_k must be from 1 to {self.vocab_size}")
        rng = rng if rng is not None else np.random.default_rng()
        context = self._checked(ids)
        self.reset_state()
        logits = self._feed(context)
        out: list[int] = []
        for _ in range(words):
            next_id = sample(logits, temperature, top_k, rng, banned)
            out.append(next_id)
            logits = self._feed(np.array([next_id]))
        return out


def _forward(layer: Any, x: NDArray, lengths: NDArray | None) -> NDArray:
    """layer.forward(x), each row stopped at its length by a frozen LSTM."""
    return layer.forward(x, lengths) if isinstance(layer, FrozenLSTM) else layer.forward(x)
