"""Binary addition with a learning-rate schedule: the unit is the step (update); plateau is told
the mean loss of the batches since the last log step at each log step; the rate is a metric; a
resumed run is bit for bit the uninterrupted one."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.train import train
from rnnlab.models.training import TrainingStopped
from tests.models.tasks.binary_addition.helpers import Recorder, npz_round_trip

SMALL = dict(binary_dim=4, hidden_size=4, batch_size=8, iterations=60, stop_at_accuracy=1.0)


def test_plateau_cuts_after_patience_log_steps_without_a_lower_loss():
    # log_every 1: each log step's window is its own batch, whose loss is the reported one
    config = BinaryAdditionConfig(
        lr_schedule="plateau", lr_patience=1, lr_factor=0.5, lr_min=0.001, log_every=1, **SMALL
    )
    hooks = Recorder()
    train(config, hooks)
    expected, rate, best, bad = [], config.learning_rate, math.inf, 0
    for _, metrics, _ in hooks.reports:
        expected.append(rate)
        if metrics["loss"] < best:
            best, bad = metrics["loss"], 0
        else:
            bad += 1
            if bad > 1:
                rate, bad = max(rate * 0.5, 0.001), 0
    assert [m["learning_rate"] for _, m, _ in hooks.reports] == expected
    assert expected[-1] < config.learning_rate


def test_step_counts_updates_and_cosine_ends_at_the_last_iteration():
    config = BinaryAdditionConfig(
        lr_schedule="step", lr_step_every=20, lr_factor=0.1, log_every=10, **SMALL
    )
    hooks = Recorder()
    train(config, hooks)
    rates = {step: m["learning_rate"] for step, m, _ in hooks.reports}
    assert rates[10] == rates[20] == 0.05 and rates[30] == rates[40] == pytest.approx(0.005)

    config = BinaryAdditionConfig(
        lr_schedule="cosine", lr_warmup=10, lr_min=0.001, log_every=1, **SMALL
    )
    hooks = Recorder()
    train(config, hooks)
    rates = [m["learning_rate"] for _, m, _ in hooks.reports]
    assert rates[:10] == pytest.approx([0.005 * k for k in range(1, 11)])
    assert all(a > b for a, b in itertools.pairwise(rates[10:]))
    assert rates[-1] == pytest.approx(0.001 + 0.049 * (1 + math.cos(math.pi * 49 / 50)) / 2)


def test_constant_reports_no_learning_rate():
    hooks = Recorder()
    train(BinaryAdditionConfig(log_every=5, **SMALL), hooks)
    assert all(set(m) == {"loss", "accuracy"} for _, m, _ in hooks.reports)


@pytest.mark.parametrize(
    "schedule",
    [
        dict(lr_schedule="plateau", lr_patience=0),
        dict(lr_schedule="step", lr_step_every=7),
        dict(lr_schedule="cosine", lr_warmup=5),
    ],
)
@pytest.mark.parametrize("save_at", [14, 15])  # mid-window and on a log step (log_every 3)
def test_resume_with_a_schedule_is_bit_identical(schedule, save_at):
    config = BinaryAdditionConfig(log_every=3, **{**SMALL, **schedule})
    reference_hooks = Recorder()
    reference = train(config, reference_hooks)
    assert reference.steps > save_at
    interrupted = Recorder(save_at=save_at, stop_at=save_at)
    with pytest.raises(TrainingStopped):
        train(config, interrupted)
    resumed_hooks = Recorder()
    resumed = train(config, resumed_hooks, resume=npz_round_trip(interrupted.saved[save_at]))
    for name, w in reference.weights.items():
        assert np.array_equal(resumed.weights[name], w), name
    assert resumed.metrics == reference.metrics
    assert interrupted.reports + resumed_hooks.reports == reference_hooks.reports
