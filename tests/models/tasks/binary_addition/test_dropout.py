"""Binary addition's dropout, Keras's (the notes' Keras runs use dropout 0.5 and recurrent
dropout 0.3): off by default, so that runs without it are those of before, bit for bit; masks
from a generator of their own, kept in the checkpoint; never at inference."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition import BinaryAdder, BinaryAdditionConfig, memory_bytes
from rnnlab.models.tasks.binary_addition.data import evaluation_pairs
from rnnlab.models.tasks.binary_addition.evaluate import EvaluationSet, evaluate_set
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.train import train
from rnnlab.models.training import TrainingStopped
from tests.models.tasks.binary_addition.helpers import Recorder, npz_round_trip

DROPOUT = dict(dropout=0.5, recurrent_dropout=0.3)


@pytest.mark.parametrize("field", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("value", [1.0, -0.1, 1.5])
def test_rates_are_bounded(field, value):
    with pytest.raises(ValueError, match=re.escape(f"{field} must be a number in [0, 1)")):
        BinaryAdditionConfig(**{field: value})


def test_off_by_default():
    config = BinaryAdditionConfig()
    assert (config.dropout, config.recurrent_dropout) == (0.0, 0.0)


def _checkpoint_at(config, step):
    hooks = Recorder(save_at=step, stop_at=step)
    with pytest.raises(TrainingStopped):
        train(config, hooks)
    return npz_round_trip(hooks.saved[step])


def test_the_batches_do_not_depend_on_dropout():
    """The masks have a generator of their own: the batches' generator is where it would be
    without dropout, and the dropout generator moved only in the run that drops."""
    config = BinaryAdditionConfig(iterations=100)
    plain = _checkpoint_at(config, 20)
    dropping = _checkpoint_at(dataclasses.replace(config, **DROPOUT), 20)
    np.testing.assert_array_equal(plain["rng"], dropping["rng"])
    assert not np.array_equal(plain["dropout_rng"], dropping["dropout_rng"])
    fresh = _checkpoint_at(config, 1)["dropout_rng"]
    np.testing.assert_array_equal(plain["dropout_rng"], fresh)  # never drawn from


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_resume_with_dropout_is_bit_identical_and_needs_the_mask_generator(cell):
    config = BinaryAdditionConfig(cell=cell, iterations=40, num_layers=2, **DROPOUT)
    reference = train(config)
    state = _checkpoint_at(config, 15)
    resumed = train(config, resume=state)
    for name, w in reference.weights.items():
        np.testing.assert_array_equal(resumed.weights[name], w, err_msg=name)
    assert resumed.metrics == reference.metrics
    # without the mask generator's state the masks after the checkpoint would be others
    del state["dropout_rng"]
    other = train(config, resume=state)
    assert not np.array_equal(other.weights["out.W"], reference.weights["out.W"])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_reference_layers_train_the_same_curve_with_dropout(cell):
    config = BinaryAdditionConfig(cell=cell, iterations=20, log_every=2, num_layers=2, **DROPOUT)
    fast_hooks, reference_hooks = Recorder(), Recorder()
    fast = train(config, fast_hooks)
    reference = train(dataclasses.replace(config, implementation="reference"), reference_hooks)
    fast_losses = [m["loss"] for _, m, _ in fast_hooks.reports]
    reference_losses = [m["loss"] for _, m, _ in reference_hooks.reports]
    np.testing.assert_allclose(reference_losses, fast_losses, rtol=1e-3)  # float32 drift
    for name, w in fast.weights.items():  # the drift grows faster with masks scaled by 2
        np.testing.assert_allclose(reference.weights[name], w, rtol=1e-3, atol=1e-3, err_msg=name)


def test_no_dropout_at_inference():
    """The final figures and the adder's answers are the no-dropout network's."""
    config = BinaryAdditionConfig(iterations=50, **DROPOUT)
    result = train(config)
    plain = dataclasses.replace(config, dropout=0.0, recurrent_dropout=0.0)
    net = BinaryAdditionNet(plain, np.random.default_rng(0))
    net.load_weights(result.weights)
    final = evaluate_set(net, plain, EvaluationSet.build(*evaluation_pairs(8), 8))
    assert final is not None
    assert final["accuracy"] == result.metrics["final_accuracy"]
    assert final["loss"] == pytest.approx(result.metrics["final_loss"], rel=1e-6)
    a, b = np.arange(20), np.arange(20)[::-1]
    np.testing.assert_array_equal(
        BinaryAdder.from_weights(config, result.weights).predict_many(a, b)[2],
        BinaryAdder.from_weights(plain, result.weights).predict_many(a, b)[2],
    )


def test_an_lstm_learns_with_the_notes_keras_rates():
    result = train(BinaryAdditionConfig(cell="lstm", **DROPOUT))
    assert result.metrics["final_bit_accuracy"] > 0.9


def test_memory_estimate_counts_the_masked_copies():
    plain = BinaryAdditionConfig(batch_size=4096, hidden_size=256)
    assert memory_bytes(dataclasses.replace(plain, **DROPOUT)) > memory_bytes(plain)
