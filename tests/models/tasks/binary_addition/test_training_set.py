"""Binary addition on a fixed training set (train_samples, the notes' Keras protocol): drawn once
from the seed, every sample once per epoch in a new order, the pairs it lacks as its test set,
and a resumed run bit for bit the uninterrupted one."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import TrainingSet, draw_pairs, evaluation_pairs
from rnnlab.models.tasks.binary_addition.evaluate import EvaluationSet, HeldOutSet, evaluate
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.train import train
from rnnlab.models.training import TrainingStopped
from tests.models.tasks.binary_addition.helpers import Recorder, npz_round_trip

# hidden 2 never gets every pair right: no early stop, every epoch runs
SMALL = dict(binary_dim=6, hidden_size=2, train_samples=100, batch_size=8, epochs=3, log_every=5)


def test_each_epoch_reads_every_sample_once_in_a_new_order_the_last_batch_smaller():
    a, b = draw_pairs(np.random.default_rng(0), 20, 6)
    training_set = TrainingSet(a, b, batch_size=8, binary_dim=6, seed=0)
    assert training_set.steps_per_epoch == 3
    epochs = []
    for epoch in range(2):
        batches = [training_set.batch(epoch * 3 + k) for k in range(3)]
        assert [len(xs) for xs, _ in batches] == [8, 8, 4]
        xs = np.concatenate([xs for xs, _ in batches])  # (20, T, 2): bits of a and b
        weights = 2 ** np.arange(6)
        seen = sorted(
            zip(
                (xs[:, :, 0] @ weights).astype(int),
                (xs[:, :, 1] @ weights).astype(int),
                strict=True,
            )
        )
        assert seen == sorted(zip(a.tolist(), b.tolist(), strict=True))
        epochs.append(xs)
    assert not np.array_equal(epochs[0], epochs[1])


def test_the_test_set_is_every_evaluation_pair_the_training_set_lacks():
    a, b = draw_pairs(np.random.default_rng(1), 500, 6)
    training_set = TrainingSet(a, b, batch_size=8, binary_dim=6, seed=1)
    eval_a, eval_b = evaluation_pairs(6)  # all 32 x 32 pairs
    lacks = training_set.lacks(eval_a, eval_b)
    trained = set(zip(a.tolist(), b.tolist(), strict=True))
    expected = [
        (x, y) not in trained for x, y in zip(eval_a.tolist(), eval_b.tolist(), strict=True)
    ]
    assert lacks.tolist() == expected
    assert 0 < lacks.sum() < len(eval_a)


@pytest.mark.parametrize("binary_dim", [6, 12])  # every pair, or the fixed sample in chunks
def test_test_metrics_are_those_of_the_held_out_pairs(binary_dim):
    config = BinaryAdditionConfig(binary_dim=binary_dim, hidden_size=4)
    net = BinaryAdditionNet(config, np.random.default_rng(0))
    eval_a, eval_b = evaluation_pairs(binary_dim)
    held_out = np.random.default_rng(2).random(len(eval_a)) < 0.3
    test_set = HeldOutSet(EvaluationSet.build(eval_a, eval_b, binary_dim), held_out)
    got = test_set.evaluate(net, config)
    direct = evaluate(net, config, eval_a[held_out], eval_b[held_out])
    assert got["test_accuracy"] == direct["accuracy"]
    assert got["test_bit_accuracy"] == direct["bit_accuracy"]
    assert got["test_loss"] == pytest.approx(direct["loss"], rel=1e-5)


def test_a_run_is_epochs_of_the_set_with_test_metrics_at_each_epoch_end():
    hooks = Recorder()
    config = BinaryAdditionConfig(**SMALL)
    result = train(config, hooks)
    assert config.steps_per_epoch == 13 and result.steps == config.total_steps == 39
    tested = [(step, m) for step, m, _ in hooks.reports if "test_accuracy" in m]
    assert [step for step, _ in tested] == [13, 26, 39]
    last = tested[-1][1]
    assert set(last) == {"loss", "accuracy", "test_loss", "test_accuracy", "test_bit_accuracy"}
    assert all(result.metrics[name] == last[name] for name in last if name.startswith("test_"))
    assert hooks.reports[-1][2] == 1.0
    again = train(config)  # the set and its orders come from the seed
    assert all(np.array_equal(again.weights[k], w) for k, w in result.weights.items())
    other = train(BinaryAdditionConfig(**{**SMALL, "seed": 1}))
    assert not np.array_equal(other.weights["out.W"], result.weights["out.W"])


def test_a_set_that_holds_every_pair_has_no_test_figures():
    config = BinaryAdditionConfig(**{**SMALL, "binary_dim": 3, "train_samples": 400, "epochs": 1})
    result = train(config)
    assert not any(name.startswith("test_") for name in result.metrics)
    assert result.metrics["eval_pairs"] == 16


@pytest.mark.parametrize("schedule", [{}, {"lr_schedule": "plateau", "lr_patience": 0}])
@pytest.mark.parametrize("save_at", [7, 13, 20])  # mid-epoch, an epoch end, a log step
def test_resume_on_a_training_set_is_bit_identical(schedule, save_at):
    config = BinaryAdditionConfig(**{**SMALL, **schedule})
    reference_hooks = Recorder()
    reference = train(config, reference_hooks)
    interrupted = Recorder(save_at=save_at, stop_at=save_at)
    with pytest.raises(TrainingStopped):
        train(config, interrupted)
    resumed_hooks = Recorder()
    resumed = train(config, resumed_hooks, resume=npz_round_trip(interrupted.saved[save_at]))
    for name, w in reference.weights.items():
        assert np.array_equal(resumed.weights[name], w), name
    assert resumed.metrics == reference.metrics
    assert interrupted.reports + resumed_hooks.reports == reference_hooks.reports


class WantsBitAccuracy(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[int, dict]] = []

    def wants(self, kind):
        return kind == "bit_accuracy"

    def record(self, step, kind, payload):
        self.records.append((step, dict(payload)))


def test_each_bit_s_accuracy_counts_the_smaller_last_batch_of_an_epoch():
    hooks = WantsBitAccuracy()
    train(BinaryAdditionConfig(**{**SMALL, "log_every": 13, "epochs": 1}), hooks)
    [(step, payload)] = hooks.records
    assert step == 13 and payload["samples"] == 100  # 12 batches of 8 and one of 4
    assert len(payload["accuracy"]) == 6 and all(0 <= a <= 1 for a in payload["accuracy"])
