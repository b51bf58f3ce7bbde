"""Training and test samples from a corpus' token ids, never as one-hot tensors (O(tokens) memory).

- ``mode="bptt"`` (default): the training tokens are cut into ``batch_size`` parallel streams and
  read in windows of ``seq_len``; every position predicts the next token, and the hidden state is
  carried from one window to the next within an epoch (truncated BPTT).
- ``mode="chunk"`` (the notes' scheme): ``chunk_size`` consecutive ids predict the next one;
  samples are shuffled each epoch and the loss is taken on the last step only.

The last ``test_fraction`` of the tokens is the test set (the notes train on the first 4/5).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from rnnlab.models.tasks.next_word.config import NextWordConfig


def as_ids(token_ids: NDArray, vocab_size: int) -> NDArray:
    ids = np.asarray(token_ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError("token_ids must be a 1-D array of integer ids")
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}) (the vocabulary size)")
    return ids


def split_tokens(config: NextWordConfig, n_tokens: int) -> int:
    """Number of training tokens: the first (1 - test_fraction) of the corpus."""
    return n_tokens - int(n_tokens * config.test_fraction)


def enough_tokens(config: NextWordConfig, n_tokens: int) -> bool:
    n_train = split_tokens(config, n_tokens)
    n_test = n_tokens - n_train
    if config.mode == "bptt":  # one full (batch_size x seq_len) window + its targets
        return n_train >= config.batch_size * config.seq_len + 1 and n_test >= config.seq_len + 1
    # one full batch of chunk samples; one test sample
    return n_train >= config.chunk_size + config.batch_size and n_test >= config.chunk_size + 1


def min_tokens(config: NextWordConfig) -> int:
    """The fewest corpus tokens giving one full training batch and one test window."""
    if config.mode == "bptt":
        need_train, need_test = config.batch_size * config.seq_len + 1, config.seq_len + 1
    else:
        need_train, need_test = config.chunk_size + config.batch_size, config.chunk_size + 1
    fraction = config.test_fraction
    # n_test = int(n * fraction) and n_train = n - n_test: start just below the real-valued
    # bounds, then step over the rounding (a few steps; never a search from zero).
    bound = max(need_train / (1.0 - fraction), need_test / fraction)
    if not math.isfinite(bound) or bound > sys.maxsize // 2:
        return sys.maxsize  # a test fraction this small can never hold a test window
    n = max(int(bound) - 2, need_train + need_test)
    while not enough_tokens(config, n):
        n += 1
    return n


class BpttBatches:
    """Windows (N, T) of inputs and next-token targets from N parallel streams (views, no copy)."""

    def __init__(self, ids: NDArray, streams: int, seq_len: int) -> None:
        stream_len = (len(ids) - 1) // streams
        self.inputs = ids[: streams * stream_len].reshape(streams, stream_len)
        self.targets = ids[1 : streams * stream_len + 1].reshape(streams, stream_len)
        self.seq_len = seq_len
        self.count = -(-stream_len // seq_len)  # the last window may be shorter

    def get(self, k: int) -> tuple[NDArray, NDArray]:
        s = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return self.inputs[:, s], self.targets[:, s]


class ChunkBatches:
    """Samples ids[j : j + C] -> ids[j + C], in batches, optionally in a shuffled order."""

    def __init__(self, ids: NDArray, chunk_size: int, batch_size: int) -> None:
        self.ids = ids
        self.offsets = np.arange(chunk_size)
        self.samples = len(ids) - chunk_size
        self.batch_size = batch_size
        self.count = -(-self.samples // batch_size)
        self.order: NDArray | None = None  # None: in corpus order

    def get(self, k: int) -> tuple[NDArray, NDArray]:
        starts = np.arange(k * self.batch_size, min((k + 1) * self.batch_size, self.samples))
        if self.order is not None:
            starts = self.order[starts]
        x = self.ids[starts[:, None] + self.offsets]  # (B, C)
        y = self.ids[starts + len(self.offsets)][:, None]  # (B, 1): the last step only
        return x, y


def epoch_order(seed: int, epoch: int, samples: int) -> NDArray:
    """Chunk samples' order in an epoch, drawn from (seed, epoch): resuming needs no copy."""
    return np.random.default_rng([seed, epoch]).permutation(samples)


def test_batches(config: NextWordConfig, test_ids: NDArray) -> Iterator[tuple[NDArray, NDArray]]:
    windows: BpttBatches | ChunkBatches
    if config.mode == "bptt":
        streams = max(1, min(config.batch_size, (len(test_ids) - 1) // config.seq_len))
        windows = BpttBatches(test_ids, streams, config.seq_len)
    else:
        windows = ChunkBatches(test_ids, config.chunk_size, config.batch_size)
    for k in range(windows.count):
        yield windows.get(k)
