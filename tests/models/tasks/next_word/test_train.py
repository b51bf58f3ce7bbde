"""Next word: learning, determinism, bit-identical resuming, memory and threads."""

from __future__ import annotations

import dataclasses
import math
import tracemalloc

import numpy as np
import pytest

from rnnlab.models.tasks.next_word import NextWordConfig, NextWordPredictor, min_tokens
from rnnlab.models.tasks.next_word.config import VALIDATION_METRICS
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.sampling import sample
from rnnlab.models.tasks.next_word.train import TEST_METRICS, train
from rnnlab.models.training import TrainingDiverged, TrainingStopped
from tests.models.tasks.next_word.helpers import SMALL, Recorder, corpus


def test_repeated_sentence_is_learned_to_low_perplexity():
    ids, vocab = corpus()
    result = train(NextWordConfig(epochs=30, **SMALL), ids, vocab)
    assert result.metrics["test_perplexity"] < 2.0
    assert result.metrics["test_accuracy"] > 0.8
    assert result.metrics["test_perplexity"] == pytest.approx(math.exp(result.metrics["test_loss"]))
    assert set(result.metrics) == {
        "train_loss", "validation_loss", "validation_perplexity", "validation_accuracy",
        "test_loss", "test_perplexity", "test_accuracy", "tokens_per_second", "best_step",
        "best_epoch",
    }  # fmt: skip
    assert all(w.dtype == np.float32 for w in result.weights.values())


def test_chunk_mode_learns_the_sentence():
    ids, vocab = corpus()
    config = NextWordConfig(mode="chunk", chunk_size=3, epochs=15, **SMALL)
    result = train(config, ids, vocab)
    assert result.metrics["test_accuracy"] > 0.8
    assert result.metrics["test_perplexity"] < 2.0


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_cell_trains(cell):
    ids, vocab = corpus()
    hooks = Recorder()
    train(NextWordConfig(cell=cell, epochs=4, **SMALL), ids, vocab, hooks)
    losses = [m["train_loss"] for _, m, _ in hooks.reports if "train_loss" in m]
    assert len(losses) == 4 and losses[-1] < 0.7 * losses[0]


def test_reports_and_progress():
    ids, vocab = corpus()
    hooks = Recorder()
    result = train(NextWordConfig(epochs=2, **SMALL), ids, vocab, hooks)
    epochs = [r for r in hooks.reports if "train_loss" in r[1]]
    logs = [r for r in hooks.reports if "loss" in r[1]]
    assert [p for _, _, p in epochs] == [0.5, 1.0]
    assert epochs[-1][0] == result.steps
    assert set(epochs[-1][1]) == {"train_loss", "tokens_per_second", *VALIDATION_METRICS}
    # the test, once, at the end: on the kept weights
    assert hooks.reports[-1] == (result.steps, {m: result.metrics[m] for m in TEST_METRICS}, 1.0)
    assert not any(m in TEST_METRICS for _, metrics, _ in hooks.reports[:-1] for m in metrics)
    assert logs and all(step % 5 == 0 for step, _, _ in logs)
    progress = [p for _, _, p in hooks.reports]
    assert progress == sorted(progress) and 0 < progress[0] < 0.5
    assert list(hooks.checkpoints) == [epochs[0][0]]  # at every epoch end but the last


def test_dropout_and_two_layers_train():
    ids, vocab = corpus()
    config = NextWordConfig(num_layers=2, dropout=0.3, epochs=12, **SMALL)
    assert train(config, ids, vocab).metrics["test_accuracy"] > 0.6


def test_same_seed_same_weights_other_seed_other_weights():
    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(epochs=2, dropout=0.2, **SMALL)
    a, b = train(config, ids, vocab), train(config, ids, vocab)
    c = train(dataclasses.replace(config, seed=1), ids, vocab)
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name])
    assert not np.array_equal(a.weights["out.W"], c.weights["out.W"])


@pytest.mark.parametrize(
    "overrides",
    [
        dict(num_layers=2, dropout=0.2),  # stateful bptt: the carried state must be restored
        dict(mode="chunk", chunk_size=3, dropout=0.2),  # shuffled order and dropout rng
        dict(cell="gru", optimizer="momentum"),
        # masks drawn from the checkpointed generator: each layer's inputs and state
        dict(cell="rnn", num_layers=2, dropout=0.3, recurrent_dropout=0.3),
        dict(mode="chunk", chunk_size=3, recurrent_dropout=0.4),
        # one matrix for embedding and output, its optimiser slots saved once
        dict(tie_weights=True, embedding_size=16, dropout=0.2),
    ],
)
@pytest.mark.parametrize("where", ["mid-epoch", "epoch-end"])
def test_resume_gives_bit_identical_weights(overrides, where):
    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(epochs=3, **{**SMALL, **overrides})
    reference_hooks = Recorder()
    reference = train(config, ids, vocab, reference_hooks)
    steps_per_epoch = reference.steps // 3
    assert steps_per_epoch > 8
    stop_step = steps_per_epoch + 7 if where == "mid-epoch" else steps_per_epoch

    hooks = Recorder(checkpoint_at=stop_step, stop_at=stop_step)
    with pytest.raises(TrainingStopped):
        train(config, ids, vocab, hooks)
    state = hooks.checkpoints[max(hooks.checkpoints)]
    resumed_hooks = Recorder()
    resumed = train(config, ids, vocab, resumed_hooks, resume=state)
    assert resumed.steps == reference.steps
    for name in reference.weights:
        np.testing.assert_array_equal(resumed.weights[name], reference.weights[name], name)
    assert resumed.metrics["train_loss"] == reference.metrics["train_loss"]
    assert resumed.metrics["test_loss"] == reference.metrics["test_loss"]
    epoch_reports = [r[:2] for r in reference_hooks.reports if "test_loss" in r[1]]
    resumed_reports = [r[:2] for r in resumed_hooks.reports if "test_loss" in r[1]]
    assert [s for s, _ in resumed_reports] == [s for s, _ in epoch_reports][-len(resumed_reports) :]


def test_stop_and_divergence():
    ids, vocab = corpus(repeat=20)
    with pytest.raises(TrainingStopped):
        train(NextWordConfig(**SMALL), ids, vocab, Recorder(stop_at=2))


def test_nan_loss_raises_a_readable_error(monkeypatch):
    ids, vocab = corpus(repeat=20)
    monkeypatch.setattr(
        NextWordModel, "train_step", lambda self, x, y, rng, trace=False: float("nan")
    )
    with pytest.raises(TrainingDiverged, match="loss became NaN at step 1: lower the learning"):
        train(NextWordConfig(**SMALL), ids, vocab)


def test_big_corpus_never_allocates_tokens_times_vocabulary():
    tokens, vocab = 1_000_000, 5000
    ids = np.random.default_rng(0).integers(0, vocab, tokens, dtype=np.int32)
    config = NextWordConfig(batch_size=64, seq_len=20, hidden_size=32, embedding_size=16)
    tracemalloc.start()
    try:
        with pytest.raises(TrainingStopped):
            train(config, ids, vocab, Recorder(stop_at=3))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # tokens x vocab x 4 bytes would be 20 GB; one window's logits block plus the
    # parameters and optimizer state are a few MB.
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_training_is_bit_identical_on_one_or_two_threads():
    """The thread count changes the speed, never the weights (fixed shards, fixed sum order)."""
    from rnnlab.models import parallel

    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(epochs=2, **SMALL)
    old = parallel.TRAIN_THREADS
    try:
        parallel.set_train_threads(1)
        one = train(config, ids, vocab)
        parallel.set_train_threads(2)
        two = train(config, ids, vocab)
    finally:
        parallel.set_train_threads(old)
    for name in one.weights:
        np.testing.assert_array_equal(one.weights[name], two.weights[name], name)
    assert one.metrics["test_loss"] == two.metrics["test_loss"]


def test_min_tokens_is_immediate_even_for_a_vanishing_test_fraction() -> None:
    # It once searched upwards from the training bound: effectively forever for 5e-324. The
    # config now bounds test_fraction, but min_tokens stays safe for any number it is given.
    import sys
    from types import SimpleNamespace

    def settings(fraction: float) -> SimpleNamespace:
        return SimpleNamespace(
            **{**dataclasses.asdict(NextWordConfig()), "test_fraction": fraction}
        )

    assert min_tokens(settings(5e-324)) == sys.maxsize  # type: ignore[arg-type]
    assert min_tokens(settings(1e-9)) == 21_000_000_000  # type: ignore[arg-type]


def test_a_vanishing_temperature_samples_greedily() -> None:
    # Dividing the raw logits by 5e-324 made them +-inf and the probabilities NaN.
    logits = np.array([1.0, 3.0, 2.0], dtype=np.float32)
    rng = np.random.default_rng(0)
    assert [sample(logits, 5e-324, None, rng, ()) for _ in range(5)] == [1] * 5
    assert sample(logits, 5e-324, None, rng, (1,)) == 2


# -- the textbook layers -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [{}, {"cell": "gru", "num_layers": 2}, {"cell": "rnn"}, {"peephole": True, "mode": "chunk"}],
)
def test_reference_layers_train_the_same_curve(overrides):
    """implementation="reference" trains the textbook layers (cells looped over time, plain
    sigmoid, affine + softmax): the same curve as the fast layers to float tolerance, and
    weights of the same names, which the fast predictor serves."""
    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(
        epochs=2, dropout=0.1, recurrent_dropout=0.1, **{**SMALL, "log_every": 1, **overrides}
    )
    fast_hooks, reference_hooks = Recorder(), Recorder()
    fast = train(config, ids, vocab, fast_hooks)
    textbook = dataclasses.replace(config, implementation="reference")
    reference = train(textbook, ids, vocab, reference_hooks)
    fast_losses = [m["loss"] for _, m, _ in fast_hooks.reports if "loss" in m]
    reference_losses = [m["loss"] for _, m, _ in reference_hooks.reports if "loss" in m]
    assert len(fast_losses) == len(reference_losses) > 10
    np.testing.assert_allclose(reference_losses, fast_losses, rtol=1e-4)
    assert reference.metrics["test_loss"] == pytest.approx(fast.metrics["test_loss"], rel=1e-4)
    assert reference.weights.keys() == fast.weights.keys()
    for name, w in fast.weights.items():
        np.testing.assert_allclose(reference.weights[name], w, rtol=1e-3, atol=1e-5, err_msg=name)
    predictor = NextWordPredictor.from_weights(textbook, reference.weights, vocab)
    assert predictor.most_likely(ids[:4], 1)[0].shape == (1,)
