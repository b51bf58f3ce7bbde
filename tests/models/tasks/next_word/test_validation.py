"""Next word: the validation split chooses the weights kept and when to stop; the test split is
evaluated once, on those weights; all of it survives a checkpoint bit for bit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from rnnlab.models.tasks.next_word import NextWordConfig
from rnnlab.models.tasks.next_word.data import BpttBatches, split_ids
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.train import evaluate, train
from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.models.training import TrainingStopped
from tests.models.tasks.binary_addition.helpers import npz_round_trip
from tests.models.tasks.next_word.helpers import SENTENCE, SMALL, Recorder

DEMO = Path(__file__).parents[4] / "service/store/data/demo_corpus.txt"


def encoded(text: str) -> tuple[np.ndarray, int]:
    words = preprocess(text)
    dictionary = build_dictionary(words)
    return dictionary.encode(words), dictionary.size


def overfitting_corpus() -> tuple[np.ndarray, int]:
    """Training text the model memorises, then held-out text that only shares its words: the
    validation loss falls for a few epochs, then rises."""
    held_out = "the lazy dog runs over the quick brown fox and jumps away "
    return encoded(SENTENCE * 16 + held_out * 8)


def perplexity_by_checkpoint(config, ids, vocab, hooks):
    """The test perplexity of every checkpoint the run saved, by step."""
    test_ids = split_ids(config, ids).test
    model = NextWordModel(config, vocab, np.random.default_rng(0))
    figures = {}
    for step, state in hooks.checkpoints.items():
        model.load_weights({k[8:]: v for k, v in state.items() if k.startswith("weights.")})
        figures[step] = evaluate(model, config, test_ids)["test_perplexity"]
    return figures


def steps_per_epoch(config: NextWordConfig, ids: np.ndarray) -> int:
    return BpttBatches(split_ids(config, ids).train, config.batch_size, config.seq_len).count


def train_with_checkpoints(config, ids, vocab):
    """Train with a checkpoint at every epoch end and at the very last step; the result, the
    hooks and the test perplexity of each checkpoint's weights."""
    last_step = config.epochs * steps_per_epoch(config, ids)
    hooks = Recorder(checkpoint_at=last_step)
    result = train(config, ids, vocab, hooks)
    return result, hooks, perplexity_by_checkpoint(config, ids, vocab, hooks)


@pytest.mark.slow
def test_on_the_demo_corpus_the_kept_model_is_the_best_epochs_not_the_overfit_last():
    """The default settings overfit the demo corpus shipped with the service: the model kept is
    the one of the best validation epoch, and its (one) test perplexity is the one those
    weights have, lower than the last epoch's."""
    ids, vocab = encoded(DEMO.read_text("utf-8"))
    config = NextWordConfig(epochs=20)
    result, hooks, test_perplexity = train_with_checkpoints(config, ids, vocab)

    validation = [(s, m["validation_loss"]) for s, m, _ in hooks.reports if "validation_loss" in m]
    best_step, best_loss = min(validation, key=lambda point: point[1])
    last_step = validation[-1][0]
    assert best_step < last_step, "the default settings no longer overfit the demo corpus"
    assert result.metrics["best_step"] == best_step
    assert result.metrics["best_epoch"] == best_step // steps_per_epoch(config, ids)
    assert result.metrics["validation_loss"] == best_loss
    assert result.metrics["test_perplexity"] == test_perplexity[best_step]
    assert result.metrics["test_perplexity"] < test_perplexity[last_step]
    for name, value in result.weights.items():
        np.testing.assert_array_equal(value, hooks.checkpoints[best_step][f"weights.{name}"])


@pytest.mark.parametrize("validation_every", [None, 7])
def test_early_stopping_stops_after_its_patience_and_keeps_the_best(validation_every):
    ids, vocab = overfitting_corpus()
    config = NextWordConfig(
        epochs=40,
        validation_fraction=0.3,
        validation_every=validation_every,
        early_stopping={"patience": 2},
        **SMALL,
    )
    hooks = Recorder()
    result = train(config, ids, vocab, hooks)
    losses = [(s, m["validation_loss"]) for s, m, _ in hooks.reports if "validation_loss" in m]
    best = min(range(len(losses)), key=lambda i: losses[i][1])
    assert len(losses) == best + 1 + 2, "stops two validations after the best"
    assert result.steps == losses[-1][0] < 40 * steps_per_epoch(config, ids)
    assert result.metrics["best_step"] == losses[best][0]
    assert result.metrics["validation_loss"] == losses[best][1]
    assert hooks.reports[-1][2] == 1.0  # the test, at the end, completes the run


def test_without_restore_best_the_last_weights_are_kept():
    ids, vocab = overfitting_corpus()
    config = NextWordConfig(epochs=16, validation_fraction=0.3, **SMALL)
    kept = train(config, ids, vocab)
    last = train(dataclasses.replace(config, restore_best=False), ids, vocab)
    assert kept.metrics["best_step"] < kept.steps == last.steps  # the same run, other weights
    assert kept.metrics["test_loss"] != last.metrics["test_loss"]
    assert last.metrics["train_loss"] == kept.metrics["train_loss"]


def test_without_validation_there_is_no_best_point():
    ids, vocab = overfitting_corpus()
    hooks = Recorder()
    result = train(NextWordConfig(epochs=2, validation_fraction=0, **SMALL), ids, vocab, hooks)
    assert not any(k.startswith(("validation_", "best_")) for k in result.metrics)
    assert not any("validation_loss" in m for _, m, _ in hooks.reports)
    assert "test_perplexity" in result.metrics


@pytest.mark.parametrize("validation_every", [None, 5])
def test_the_best_weights_survive_a_crash_bit_for_bit(validation_every):
    """Cut off well after the best point: the resumed run keeps the weights the checkpoint
    carried, stops where the uninterrupted run stops, and reports the same figures."""
    ids, vocab = overfitting_corpus()
    config = NextWordConfig(
        epochs=40,
        validation_fraction=0.3,
        validation_every=validation_every,
        early_stopping={"patience": 4},
        **SMALL,
    )
    reference = train(config, ids, vocab)
    cut_at = reference.steps - 3  # after the best, before the patience runs out
    assert reference.metrics["best_step"] < cut_at
    hooks = Recorder(checkpoint_at=cut_at, stop_at=cut_at)
    with pytest.raises(TrainingStopped):
        train(config, ids, vocab, hooks)
    resumed = train(config, ids, vocab, resume=npz_round_trip(hooks.checkpoints[cut_at]))
    assert resumed.steps == reference.steps
    assert resumed.metrics == {
        **reference.metrics,
        "tokens_per_second": resumed.metrics["tokens_per_second"],
    }
    for name in reference.weights:
        np.testing.assert_array_equal(resumed.weights[name], reference.weights[name], name)
