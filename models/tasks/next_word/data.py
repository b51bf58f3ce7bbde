"""Training and test samples from a corpus' token ids, never as one-hot tensors (O(tokens) memory).

- ``mode="bptt"`` (default): the training tokens are cut into ``batch_size`` parallel streams and
  read in windows of ``seq_len``; every position predicts the next token, and the hidden state is
  carried from one window to the next within an epoch (truncated BPTT).
- ``mode="chunk"`` (the notes' scheme): ``chunk_size`` consecutive ids predict the next one;
  samples are shuffled each epoch and the loss is taken on the last step only.

The last ``test_fraction`` of the tokens is the test set (the notes train on the first 4/5);
the last ``validation_fraction`` of what it leaves is the validation set (as Keras'
validation_split takes the end of the training data), the rest trains.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from typing import NamedTuple

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


class Splits(NamedTuple):
    train: NDArray
    validation: NDArray  # empty when validation_fraction is 0
    test: NDArray


def split_sizes(config: NextWordConfig, n_tokens: int) -> tuple[int, int, int]:
    """(train, validation, test) token counts: the test from the end of the corpus, then the
    validation from the end of what the test leaves."""
    n_test = int(n_tokens * config.test_fraction)
    n_validation = int((n_tokens - n_test) * config.validation_fraction)
    return n_tokens - n_test - n_validation, n_validation, n_test


def split_ids(config: NextWordConfig, ids: NDArray) -> Splits:
    n_train, n_validation, _ = split_sizes(config, len(ids))
    held_out = n_train + n_validation
    return Splits(ids[:n_train], ids[n_train:held_out], ids[held_out:])


def split_tokens(config: NextWordConfig, n_tokens: int) -> int:
    """Number of training tokens: what the test and validation splits leave."""
    return split_sizes(config, n_tokens)[0]


def _needs(config: NextWordConfig) -> tuple[int, int]:
    """Tokens for one full training batch, and for one evaluation window (test, validation)."""
    if config.mode == "bptt":  # one full (batch_size x seq_len) window + its targets
        return config.batch_size * config.seq_len + 1, config.seq_len + 1
    return config.chunk_size + config.batch_size, config.chunk_size + 1


def enough_tokens(config: NextWordConfig, n_tokens: int) -> bool:
    n_train, n_validation, n_test = split_sizes(config, n_tokens)
    need_train, need_window = _needs(config)
    validation_ok = config.validation_fraction == 0 or n_validation >= need_window
    return n_train >= need_train and n_test >= need_window and validation_ok


def min_tokens(config: NextWordConfig) -> int:
    """The fewest corpus tokens giving one full training batch, and one window to test and to
    validate on."""
    need_train, need_window = _needs(config)
    test, validation = config.test_fraction, config.validation_fraction
    # n_test = int(n * test) and so on: start just below the real-valued bounds, then step
    # over the rounding (a few steps; never a search from zero).
    shares = [(need_train, (1.0 - test) * (1.0 - validation)), (need_window, test)]
    if validation > 0:
        shares.append((need_window, (1.0 - test) * validation))
    bound = max(need / share if share > 0 else math.inf for need, share in shares)
    if not math.isfinite(bound) or bound > sys.maxsize // 2:
        return sys.maxsize  # a fraction this small can never hold a window
    n = max(int(bound) - 2, sum(need for need, _ in shares))
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
    """The windows of a held-out split (test or validation), in corpus order."""
    windows: BpttBatches | ChunkBatches
    if config.mode == "bptt":
        streams = max(1, min(config.batch_size, (len(test_ids) - 1) // config.seq_len))
        windows = BpttBatches(test_ids, streams, config.seq_len)
    else:
        windows = ChunkBatches(test_ids, config.chunk_size, config.batch_size)
    for k in range(windows.count):
        yield windows.get(k)
