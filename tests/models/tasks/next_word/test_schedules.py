"""Next word with a learning-rate schedule: the rate each epoch trains with, the rate as a
metric, and resuming bit for bit with the schedule's memory in the checkpoint."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnnlab.models.tasks.next_word import NextWordConfig
from rnnlab.models.tasks.next_word.train import train
from rnnlab.models.training import TrainingStopped
from tests.models.tasks.next_word.helpers import SMALL, Recorder, corpus


def noise(tokens=300, vocab=12):
    """Random words: nothing to learn, so the validation loss stops improving after an epoch or
    two."""
    return np.random.default_rng(0).integers(0, vocab, size=tokens), vocab


def epochs_of(hooks):
    """(validation loss, learning rate) of each epoch, the rate as reported at the epoch's last
    step (in the epoch's report, or in the log report of the same step)."""
    rates = {step: m["learning_rate"] for step, m, _ in hooks.reports if "learning_rate" in m}
    return [
        (m["validation_loss"], rates[step]) for step, m, _ in hooks.reports if "train_loss" in m
    ]


@pytest.mark.parametrize("log_every", [3, 5])  # epoch ends on a log step (12 steps), or not
def test_plateau_cuts_the_rate_after_each_epoch_whose_validation_loss_is_no_new_best(log_every):
    ids, vocab = noise()
    config = NextWordConfig(
        epochs=6,
        learning_rate=0.05,
        lr_schedule="plateau",
        lr_patience=0,
        lr_factor=0.25,
        **{**SMALL, "log_every": log_every},
    )
    hooks = Recorder()
    train(config, ids, vocab, hooks)
    epochs = epochs_of(hooks)
    expected, rate, best = [], 0.05, np.inf
    for validation_loss, _ in epochs:
        expected.append(rate)
        rate, best = (rate, validation_loss) if validation_loss < best else (rate * 0.25, best)
    assert [r for _, r in epochs] == expected
    assert expected[-1] < 0.05  # it did cut
    steps = [step for step, m, _ in hooks.reports if "learning_rate" in m]
    assert len(steps) == len(set(steps))  # one rate per step: (job, name, step) is unique


def test_step_cuts_every_n_epochs_and_cosine_falls_within_epochs():
    ids, vocab = corpus(repeat=20)
    hooks = Recorder()
    config = NextWordConfig(
        epochs=5, lr_schedule="step", lr_step_every=2, lr_factor=0.5, **{**SMALL, "log_every": 3}
    )
    train(config, ids, vocab, hooks)
    assert [r for _, r in epochs_of(hooks)] == [0.005, 0.005, 0.0025, 0.0025, 0.00125]

    hooks = Recorder()
    config = NextWordConfig(
        epochs=2, lr_schedule="cosine", lr_warmup=3, **{**SMALL, "log_every": 1}
    )
    result = train(config, ids, vocab, hooks)
    rates = [m["learning_rate"] for _, m, _ in hooks.reports if "loss" in m]
    assert len(rates) == result.steps
    assert rates[:4] == pytest.approx([0.005 / 3, 0.005 * 2 / 3, 0.005, 0.005])
    assert all(a > b for a, b in itertools.pairwise(rates[3:]))


def test_constant_logs_no_learning_rate_and_final_metrics_never_hold_it():
    ids, vocab = corpus(repeat=20)
    hooks = Recorder()
    constant = train(NextWordConfig(epochs=2, **SMALL), ids, vocab, hooks)
    assert not any("learning_rate" in m for _, m, _ in hooks.reports)
    scheduled = train(NextWordConfig(epochs=2, lr_schedule="step", **SMALL), ids, vocab)
    assert set(scheduled.metrics) == set(constant.metrics)


@pytest.mark.parametrize(
    "schedule",
    [
        dict(lr_schedule="plateau", lr_patience=0, learning_rate=0.05),
        dict(lr_schedule="step", lr_factor=0.5),
        dict(lr_schedule="cosine", lr_warmup=5, lr_min=1e-4),
    ],
)
@pytest.mark.parametrize("where", ["mid-epoch", "epoch-end"])
def test_resume_with_a_schedule_is_bit_identical(schedule, where):
    ids, vocab = noise(tokens=400)
    config = NextWordConfig(epochs=4, **{**SMALL, **schedule})
    reference_hooks = Recorder()
    reference = train(config, ids, vocab, reference_hooks)
    steps_per_epoch = reference.steps // 4
    stop_step = 2 * steps_per_epoch + (3 if where == "mid-epoch" else 0)

    hooks = Recorder(checkpoint_at=stop_step, stop_at=stop_step)
    with pytest.raises(TrainingStopped):
        train(config, ids, vocab, hooks)
    state = hooks.checkpoints[max(hooks.checkpoints)]
    resumed_hooks = Recorder()
    resumed = train(config, ids, vocab, resumed_hooks, resume=state)
    for name in reference.weights:
        np.testing.assert_array_equal(resumed.weights[name], reference.weights[name], name)
    resumed_epochs = epochs_of(resumed_hooks)
    assert resumed_epochs == epochs_of(reference_hooks)[-len(resumed_epochs) :]
    if schedule["lr_schedule"] == "plateau":
        assert resumed_epochs[-1][1] < 0.05  # the cuts made before the checkpoint carried on
