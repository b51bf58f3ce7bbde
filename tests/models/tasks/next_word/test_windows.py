"""Where the token stream is cut up, properties over random lengths, streams and window sizes:
- truncated-BPTT windows tile each stream with no gap and no overlap, targets = inputs shifted
  by one;
- chunk samples are every start position exactly once, each target the token after its chunk;
- training and evaluation feed exactly those windows, in stream order;
- evaluation window by window with carried state equals one pass over the whole stream.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rnnlab.models.tasks.next_word import data
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.data import BpttBatches, ChunkBatches
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.train import evaluate, train

FAST = settings(max_examples=150, deadline=None)
MODEL = settings(max_examples=25, deadline=None)


def tokens(n: int, seed: int = 0) -> np.ndarray:
    """n distinct-enough ids: position i holds i, so a window's content says where it came from."""
    return np.arange(n, dtype=np.int64) + seed


def concatenated_windows(batches: BpttBatches) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Inputs and targets (streams, total width) glued window after window, and each width."""
    xs, ys = zip(*(batches.get(k) for k in range(batches.count)), strict=True)
    return np.concatenate(xs, axis=1), np.concatenate(ys, axis=1), [x.shape[1] for x in xs]


@FAST
@given(n=st.integers(2, 600), streams=st.integers(1, 40), seq_len=st.integers(1, 60))
def test_bptt_windows_tile_each_stream_with_targets_shifted_by_one(n, streams, seq_len) -> None:
    ids = tokens(n)
    stream_len = (n - 1) // streams
    assume(stream_len > 0)  # fewer tokens than streams: train() refuses such settings
    batches = BpttBatches(ids, streams, seq_len)
    inputs, targets, widths = concatenated_windows(batches)

    # every window is seq_len wide but the last, which is 1..seq_len: no empty window, no gap
    assert all(w == seq_len for w in widths[:-1]) and 1 <= widths[-1] <= seq_len
    # stream s is ids[s*L : (s+1)*L] read once, in order: no token seen twice, none skipped
    expected = ids[: streams * stream_len].reshape(streams, stream_len)
    np.testing.assert_array_equal(inputs, expected)
    np.testing.assert_array_equal(targets, expected + 1)  # ids are positions: the next token
    # the streams together cover the ids from the first on, losing fewer tokens than streams
    assert n - 1 - streams * stream_len < streams


@FAST
@given(
    n=st.integers(2, 400),
    chunk=st.integers(1, 30),
    batch=st.integers(1, 50),
    seed=st.integers(0, 5),
)
def test_chunk_samples_are_every_start_once_with_the_next_token_as_target(n, chunk, batch, seed):
    assume(n > chunk)
    ids = tokens(n)
    batches = ChunkBatches(ids, chunk, batch)
    for order in (None, np.random.default_rng(seed).permutation(batches.samples)):
        batches.order = order
        xs, ys = zip(*(batches.get(k) for k in range(batches.count)), strict=True)
        assert all(len(x) == batch for x in xs[:-1]) and 1 <= len(xs[-1]) <= batch
        x, y = np.concatenate(xs), np.concatenate(ys)
        starts = x[:, 0]
        expected_starts = np.arange(n - chunk) if order is None else order
        np.testing.assert_array_equal(starts, expected_starts)  # every start once
        np.testing.assert_array_equal(x, starts[:, None] + np.arange(chunk))  # consecutive
        np.testing.assert_array_equal(y[:, 0], starts + chunk)  # the token after the chunk
        assert y.shape == (n - chunk, 1)


@FAST
@given(
    n=st.integers(2, 400),
    batch=st.integers(1, 40),
    seq_len=st.integers(1, 40),
    mode=st.sampled_from(["bptt", "chunk"]),
)
def test_evaluation_windows_cover_the_test_tokens_once(n, batch, seq_len, mode) -> None:
    config = NextWordConfig(batch_size=batch, seq_len=seq_len, chunk_size=seq_len, mode=mode)
    assume(n > seq_len)  # enough_tokens() refuses a test split without one window
    ids = tokens(n)
    windows = list(data.test_batches(config, ids))
    if mode == "chunk":
        starts = np.concatenate([x[:, 0] for x, _ in windows])
        np.testing.assert_array_equal(starts, np.arange(n - seq_len))
        np.testing.assert_array_equal(
            np.concatenate([y[:, 0] for _, y in windows]), starts + seq_len
        )
        return
    inputs = np.concatenate([x for x, _ in windows], axis=1)
    targets = np.concatenate([y for _, y in windows], axis=1)
    streams, stream_len = inputs.shape
    assert streams == max(1, min(batch, (n - 1) // seq_len))
    np.testing.assert_array_equal(inputs, ids[: streams * stream_len].reshape(streams, -1))
    np.testing.assert_array_equal(targets, inputs + 1)
    assert stream_len == (n - 1) // streams


def tiny_config(**overrides) -> NextWordConfig:
    base = dict(hidden_size=6, embedding_size=5, seed=1, test_fraction=0.5)
    return NextWordConfig(**{**base, **overrides})


def one_pass(model: NextWordModel, inputs: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Loss and accuracy of one forward over whole rows from a zero state, in float64."""
    model.set_stateful(False)
    model.reset_state()
    hs = model.hidden(inputs)
    logits = model.out.last_step_logits(hs[:, -targets.shape[1] :].reshape(-1, hs.shape[2]))
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    flat = targets.reshape(-1)
    loss = -log_probs[np.arange(len(flat)), flat].mean()
    accuracy = (logits.argmax(axis=1) == flat).mean()
    return {"test_loss": loss, "test_accuracy": accuracy}


@MODEL
@given(
    n=st.integers(12, 160),
    batch=st.integers(1, 6),
    seq_len=st.integers(1, 9),
    cell=st.sampled_from(["lstm", "gru", "rnn"]),
    layers=st.integers(1, 2),
)
def test_bptt_evaluation_window_by_window_equals_one_pass_with_carried_state(
    n, batch, seq_len, cell, layers
) -> None:
    assume(n > seq_len + 1)
    vocab = 11
    ids = np.random.default_rng(n).integers(0, vocab, n)
    config = tiny_config(batch_size=batch, seq_len=seq_len, cell=cell, num_layers=layers)
    model = NextWordModel(config, vocab, np.random.default_rng(2))
    windowed = evaluate(model, config, ids)

    streams = max(1, min(batch, (n - 1) // seq_len))
    stream_len = (n - 1) // streams
    inputs = ids[: streams * stream_len].reshape(streams, stream_len)
    targets = ids[1 : streams * stream_len + 1].reshape(streams, stream_len)
    whole = one_pass(model, inputs, targets)
    assert windowed["test_loss"] == pytest.approx(whole["test_loss"], rel=1e-5)
    assert windowed["test_accuracy"] == pytest.approx(whole["test_accuracy"])
    assert windowed["test_perplexity"] == pytest.approx(np.exp(whole["test_loss"]), rel=1e-5)


@MODEL
@given(n=st.integers(8, 120), batch=st.integers(1, 7), chunk=st.integers(1, 6))
def test_chunk_evaluation_is_every_chunk_read_alone(n, batch, chunk) -> None:
    assume(n > chunk + 1)
    vocab = 9
    ids = np.random.default_rng(n).integers(0, vocab, n)
    config = tiny_config(batch_size=batch, chunk_size=chunk, mode="chunk")
    model = NextWordModel(config, vocab, np.random.default_rng(3))
    windowed = evaluate(model, config, ids)
    starts = np.arange(n - chunk)
    inputs = ids[starts[:, None] + np.arange(chunk)]
    whole = one_pass(model, inputs, ids[starts + chunk][:, None])
    assert windowed["test_loss"] == pytest.approx(whole["test_loss"], rel=1e-5)
    assert windowed["test_accuracy"] == pytest.approx(whole["test_accuracy"])


@pytest.mark.parametrize(("n", "batch", "seq_len"), [(203, 4, 7), (160, 3, 5), (91, 2, 10)])
def test_training_feeds_each_train_stream_once_per_epoch_and_tests_on_the_rest(
    monkeypatch, n, batch, seq_len
) -> None:
    """Record what train() hands the real model (the calls go through unchanged)."""
    fed: list[tuple[np.ndarray, np.ndarray]] = []
    evaluated: list[tuple[np.ndarray, np.ndarray]] = []
    real_step, real_eval = NextWordModel.train_step, NextWordModel.evaluate_batch

    def recording_step(self, x, y, rng, trace=False):
        fed.append((x.copy(), y.copy()))
        return real_step(self, x, y, rng, trace)

    def recording_eval(self, x, y):
        evaluated.append((x.copy(), y.copy()))
        return real_eval(self, x, y)

    monkeypatch.setattr(NextWordModel, "train_step", recording_step)
    monkeypatch.setattr(NextWordModel, "evaluate_batch", recording_eval)
    ids = np.arange(n) % 50  # positions modulo the vocabulary; unique within a window
    config = tiny_config(
        batch_size=batch, seq_len=seq_len, epochs=2, test_fraction=0.2, validation_fraction=0.25
    )
    train(config, ids, 50)

    n_test = int(n * 0.2)
    n_train = n - n_test - int((n - n_test) * 0.25)
    stream_len = (n_train - 1) // batch
    expected = ids[: batch * stream_len].reshape(batch, stream_len)
    per_epoch = len(fed) // 2
    for epoch in range(2):
        windows = fed[epoch * per_epoch : (epoch + 1) * per_epoch]
        np.testing.assert_array_equal(np.concatenate([x for x, _ in windows], axis=1), expected)
        np.testing.assert_array_equal(
            np.concatenate([y for _, y in windows], axis=1),
            ids[1 : batch * stream_len + 1].reshape(batch, stream_len),
        )
    # a validation after each epoch on the tokens between training and test, one test at the end
    validation_ids, test_ids = ids[n_train : n - n_test], ids[n - n_test :]
    validation_windows = len(list(data.test_batches(config, validation_ids)))
    assert len(evaluated) == 2 * validation_windows + len(list(data.test_batches(config, test_ids)))
    for epoch in range(2):
        first = evaluated[epoch * validation_windows][0]
        assert first[0, 0] == validation_ids[0]  # the validation split starts where training stops
    test_inputs = np.concatenate([x for x, _ in evaluated[2 * validation_windows :]], axis=1)
    assert test_inputs[0, 0] == test_ids[0]  # the test split starts where validation stops
    streams, width = test_inputs.shape
    np.testing.assert_array_equal(test_inputs, test_ids[: streams * width].reshape(streams, width))
