"""Binary addition with early stopping: a validation sample drawn from the seed chooses the
weights kept and when to stop; the check of every pair stays their test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import evaluation_pairs
from rnnlab.models.tasks.binary_addition.evaluate import evaluate
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.train import train
from rnnlab.models.training import TrainingStopped
from tests.models.tasks.binary_addition.helpers import Recorder, npz_round_trip

VALIDATION_FIGURES = {"validation_loss", "validation_accuracy", "validation_bit_accuracy"}
# min_delta 10: no later validation beats the first, so the run stops at the second
IMPATIENT = BinaryAdditionConfig(
    iterations=500, validation_every=20, early_stopping={"patience": 1, "min_delta": 10.0}
)


def test_without_early_stopping_nothing_is_validated():
    hooks = Recorder()
    result = train(BinaryAdditionConfig(iterations=40, log_every=10), hooks)
    assert not any(VALIDATION_FIGURES & set(metrics) for _, metrics, _ in hooks.reports)
    assert not {"best_step", *VALIDATION_FIGURES} & set(result.metrics)


def test_validation_draws_leave_training_as_it_was():
    """Validating (on a generator of its own) changes no training draw: with a patience that
    never runs out and the last weights kept, the run is the run without early stopping."""
    plain = BinaryAdditionConfig(iterations=120, stop_at_accuracy=1.0, seed=5)
    validating = dataclasses.replace(
        plain, early_stopping={"patience": 1000}, validation_every=7, restore_best=False
    )
    a, b = train(plain), train(validating)
    assert a.steps == b.steps
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name])
    assert {k: b.metrics[k] for k in a.metrics} == a.metrics


def test_early_stopping_stops_after_its_patience_and_keeps_the_best_weights():
    hooks = Recorder()
    result = train(IMPATIENT, hooks)
    validations = [(s, m) for s, m, _ in hooks.reports if set(m) >= VALIDATION_FIGURES]
    assert [s for s, _ in validations] == [20, 40]
    assert result.steps == 40 and hooks.reports[-1][2] == 1.0
    assert result.metrics["best_step"] == 20
    assert {k: result.metrics[k] for k in VALIDATION_FIGURES} == validations[0][1]
    # the weights of step 20: those of a run that trained 20 steps (validation draws nothing)
    at_20 = train(dataclasses.replace(IMPATIENT, iterations=20, early_stopping=None))
    for name in at_20.weights:
        np.testing.assert_array_equal(result.weights[name], at_20.weights[name])
    # and the test, over every pair, is theirs
    net = BinaryAdditionNet(IMPATIENT, np.random.default_rng(0))
    net.load_weights(result.weights)
    test = evaluate(net, IMPATIENT, *evaluation_pairs(IMPATIENT.binary_dim))
    assert result.metrics["final_accuracy"] == test["accuracy"]
    assert result.metrics["final_loss"] == test["loss"]


def test_the_best_weights_survive_a_crash_bit_for_bit():
    reference = train(IMPATIENT)
    hooks = Recorder(save_at=30, stop_at=30)  # after the best (20), before the stop (40)
    with pytest.raises(TrainingStopped):
        train(IMPATIENT, hooks)
    resumed = train(IMPATIENT, resume=npz_round_trip(hooks.saved[30]))  # as stored
    assert resumed.steps == reference.steps and resumed.metrics == reference.metrics
    for name in reference.weights:
        np.testing.assert_array_equal(resumed.weights[name], reference.weights[name])
