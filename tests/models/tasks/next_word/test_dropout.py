"""Next word's dropout, Keras's: each recurrent layer's inputs (``dropout``) and recurrent state
(``recurrent_dropout``) dropped with one mask per sequence of a window, drawn from the run's
generator; none at inference, and a model trained with it loads and serves as any other."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnnlab.models.layers.dropout import sequence_masks
from rnnlab.models.tasks.config import from_stored
from rnnlab.models.tasks.next_word import NextWordConfig, NextWordPredictor, memory_bytes
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.train import train
from tests.models.tasks.next_word.helpers import SMALL, corpus

DROPPING = dict(num_layers=2, dropout=0.5, recurrent_dropout=0.3, **SMALL)


@pytest.mark.parametrize("implementation", ["fast", "reference"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_each_layer_drops_its_inputs_and_state_with_one_mask_per_sequence(cell, implementation):
    config = NextWordConfig(cell=cell, implementation=implementation, **DROPPING)
    model = NextWordModel(config, 9, np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, 9, (4, 5))
    hs = model.hidden(ids, np.random.default_rng(2))

    # the same by hand: masks drawn layer by layer, inputs then state, handed to every step
    draws = np.random.default_rng(2)
    x = model.embed.forward(ids)
    for layer in model.recurrent:
        masks = sequence_masks(draws, 4, x.shape[2], 16, 0.5, 0.3)
        assert masks.inputs.shape == (4, x.shape[2]) and masks.recurrent.shape == (4, 16)
        x = layer.forward(x, masks)
    np.testing.assert_array_equal(hs, x)
    assert not np.allclose(hs, model.hidden(ids))  # it did drop something


@pytest.mark.parametrize("implementation", ["fast", "reference"])
def test_no_dropout_at_inference(implementation):
    config = NextWordConfig(implementation=implementation, **DROPPING)
    plain = dataclasses.replace(config, dropout=0.0, recurrent_dropout=0.0)
    # dropout draws nothing when the model is built: one seed, the same weights
    dropping = NextWordModel(config, 9, np.random.default_rng(0))
    model = NextWordModel(plain, 9, np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, 9, (4, 5))
    targets = np.random.default_rng(2).integers(0, 9, (4, 5))
    assert dropping.evaluate_batch(ids, targets) == model.evaluate_batch(ids, targets)
    weights = dropping.weights()
    np.testing.assert_array_equal(
        NextWordPredictor.from_weights(config, weights, 9).most_likely([1, 2, 3], 3)[1],
        NextWordPredictor.from_weights(plain, weights, 9).most_likely([1, 2, 3], 3)[1],
    )


def test_rates_of_zero_train_as_before_and_dropout_changes_the_run():
    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(epochs=1, **SMALL)
    explicit = dataclasses.replace(config, dropout=0.0, recurrent_dropout=0.0)
    a, b = train(config, ids, vocab), train(explicit, ids, vocab)
    assert all(np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)
    for rates in (dict(dropout=0.3), dict(recurrent_dropout=0.3)):
        c = train(dataclasses.replace(config, **rates), ids, vocab)
        assert not np.array_equal(a.weights["out.W"], c.weights["out.W"]), rates


def test_a_model_stored_before_recurrent_dropout_loads_and_serves():
    """Hyperparameters stored by an earlier version have no recurrent_dropout: it defaults to
    0, and dropout (which never changes the weights' names or shapes) does not touch serving."""
    ids, vocab = corpus(repeat=20)
    old = {k: v for k, v in dataclasses.asdict(NextWordConfig(dropout=0.5, **SMALL)).items()}
    del old["recurrent_dropout"]
    config = from_stored(NextWordConfig, {**old, "corpus_id": 3})
    assert (config.dropout, config.recurrent_dropout) == (0.5, 0.0)
    result = train(dataclasses.replace(config, epochs=1), ids, vocab)
    top, probabilities = NextWordPredictor.from_weights(config, result.weights, vocab).most_likely(
        list(ids[:4]), 2
    )
    assert top.shape == probabilities.shape == (2,)


def test_memory_estimate_counts_the_masked_copies():
    plain = NextWordConfig(num_layers=2, batch_size=512)
    for rates in (dict(dropout=0.5), dict(recurrent_dropout=0.5)):
        assert memory_bytes(dataclasses.replace(plain, **rates), 10**6, 10**4) > memory_bytes(
            plain, 10**6, 10**4
        )
