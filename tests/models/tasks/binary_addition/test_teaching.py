"""The views that teach, from a binary-addition run: the fixed sums as the notes print them,
each bit's accuracy, the last bit's error travelling back in time (sigmoid's vanishes faster
than tanh's), all computed only when wanted and never changing what training does."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.predict import BinaryAdder
from rnnlab.models.tasks.binary_addition.teaching import SAMPLE_SUMS, sample_pairs
from rnnlab.models.tasks.binary_addition.train import train
from rnnlab.models.training import RECORD_KINDS, TrainingStopped
from tests.models.tasks.binary_addition.helpers import NOTES_CONFIG, Recorder, npz_round_trip


class Teaching(Recorder):
    """A Recorder that wants every record (or those of `kinds`) and keeps them."""

    def __init__(self, kinds=RECORD_KINDS, **options):
        super().__init__(**options)
        self.kinds = kinds
        self.records: list[tuple[int, str, dict]] = []

    def wants(self, kind):
        return kind in self.kinds

    def record(self, step, kind, payload):
        self.records.append((step, kind, payload))

    def of(self, kind):
        return [(step, payload) for step, k, payload in self.records if k == kind]


def test_records_at_each_log_step():
    hooks = Teaching()
    config = BinaryAdditionConfig(
        iterations=60, log_every=10, gradient_norms_every=20, stop_at_accuracy=1.0
    )
    result = train(config, hooks)
    log_steps = [step for step, _, _ in hooks.reports]
    assert [s for s, _ in hooks.of("sums")] == log_steps
    assert [s for s, _ in hooks.of("bit_accuracy")] == log_steps
    assert [s for s, _ in hooks.of("gradient_norms")] == [20, 40, 60]
    assert hooks.of("generated") == []

    adder = BinaryAdder.from_weights(config, result.weights)
    a, b = sample_pairs(config.binary_dim)
    _, last = hooks.of("sums")[-1]
    assert len(last["sums"]) == SAMPLE_SUMS
    for x, y, s in zip(a, b, last["sums"], strict=True):
        predicted, _, _ = adder.predict(int(x), int(y))
        assert (s["a"], s["b"], s["true"], s["predicted"]) == (x, y, x + y, predicted)
        assert s["true_bits"] == format(x + y, "08b")
        assert s["predicted_bits"] == format(predicted, "08b")
        assert s["correct"] == (predicted == x + y)

    _, bits = hooks.of("bit_accuracy")[0]
    assert bits["samples"] == 10 * config.batch_size
    assert len(bits["accuracy"]) == 8 and all(0 <= v <= 1 for v in bits["accuracy"])
    _, trace = hooks.of("gradient_norms")[0]
    assert trace["loss_step"] == 7 and len(trace["norms"]) == 8
    assert all(np.isfinite(trace["norms"])) and trace["norms"][-1] > 0


def test_nothing_is_recorded_when_not_wanted_or_turned_off():
    hooks = Teaching(kinds=())
    train(BinaryAdditionConfig(iterations=30), hooks)
    assert hooks.records == []
    hooks = Teaching()
    off = BinaryAdditionConfig(iterations=30, teaching_views=False, gradient_norms_every=None)
    train(off, hooks)
    assert hooks.records == []


def _shrink_per_step(activation: str) -> float:
    """The geometric mean over a run's traces of ||dL/dh_t|| / ||dL/dh_{t+1}||."""
    hooks = Teaching(kinds=("gradient_norms",))
    settings = dict(NOTES_CONFIG, init="xavier", activation=activation, iterations=300)
    train(BinaryAdditionConfig(**dict(settings, gradient_norms_every=10)), hooks)
    norms = np.array([payload["norms"] for _, payload in hooks.of("gradient_norms")])
    assert len(norms) == 30
    return float(np.exp(np.mean(np.log(norms[:, 0] / norms[:, -1])) / (norms.shape[1] - 1)))


def test_sigmoid_gradients_vanish_faster_than_tanh_ones():
    # The notes' trials No.1 and No.2 (Xavier, sigmoid or tanh): sigmoid' <= 0.25 shrinks the
    # error at least four times per step when the recurrent weights are near unit scale.
    sigmoid, tanh = _shrink_per_step("sigmoid"), _shrink_per_step("tanh")
    assert sigmoid < 0.3
    assert tanh > 2 * sigmoid


@pytest.mark.parametrize(
    "overrides", [{}, dict(NOTES_CONFIG, iterations=300, log_every=7, gradient_norms_every=11)]
)
def test_records_change_nothing_and_a_resumed_run_records_the_same(overrides):
    config = BinaryAdditionConfig(**overrides)
    plain = train(config, Recorder())
    full_hooks = Teaching()
    full = train(config, full_hooks)
    assert full_hooks.records
    save_at = full.steps // 2
    interrupted = Teaching(save_at=save_at, stop_at=save_at)
    with pytest.raises(TrainingStopped):
        train(config, interrupted)
    resumed_hooks = Teaching()
    resumed = train(config, resumed_hooks, resume=npz_round_trip(interrupted.saved[save_at]))
    for name, w in plain.weights.items():
        assert np.array_equal(full.weights[name], w), name
        assert np.array_equal(resumed.weights[name], w), name
    for kind in ("sums", "gradient_norms"):
        after = [r for r in full_hooks.of(kind) if r[0] > save_at]
        assert interrupted.of(kind) + resumed_hooks.of(kind) == full_hooks.of(kind)
        assert resumed_hooks.of(kind) == after
