"""The time wrapper's carried state (truncated BPTT), on every cell."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.layers.gru import TimeGRU
from rnnlab.models.layers.lstm import TimeLSTM
from rnnlab.models.layers.rnn import TimeRNN
from tests.models.gradcheck import check_layer_gradients, randomize

CLASSES = [TimeRNN, TimeLSTM, TimeGRU]


def _layer(cls, seed, D=3, H=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    layer = cls(D, H, rng, dtype=dtype)
    randomize(layer, rng)
    return layer


@pytest.mark.parametrize("cls", CLASSES)
def test_carried_state_is_a_constant_for_backward(cls):
    """Window 2's gradients treat the state carried from window 1 as a constant."""
    layer = _layer(cls, 2)
    rng = np.random.default_rng(3)
    layer.stateful = True
    layer.forward(rng.standard_normal((2, 4, 3)))
    carried = layer.get_state()
    assert carried and all(np.abs(v).sum() > 0 for v in carried.values())
    xs2 = rng.standard_normal((2, 3, 3))
    check_layer_gradients(layer, xs2)  # restores the carried state before every pass
    layer.set_state(carried)
    with_state = layer.forward(xs2).copy()
    layer.reset_state()
    assert not np.allclose(with_state, layer.forward(xs2))  # the state really mattered


@pytest.mark.parametrize("cls", CLASSES)
def test_state_is_dropped_when_batch_size_changes(cls):
    layer = _layer(cls, 3, dtype=np.float32)
    rng = np.random.default_rng(4)
    layer.stateful = True
    layer.forward(rng.standard_normal((2, 4, 3)).astype(np.float32))
    xs = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out = layer.forward(xs).copy()
    layer.reset_state()
    assert layer.get_state() == {}
    np.testing.assert_array_equal(out, layer.forward(xs))


@pytest.mark.parametrize("cls", CLASSES)
def test_window_split_equals_one_long_window(cls):
    layer = _layer(cls, 4, H=5)
    xs = np.random.default_rng(5).standard_normal((2, 7, 3))
    whole = layer.forward(xs).copy()
    layer.stateful = True
    first = layer.forward(xs[:, :3]).copy()
    second = layer.forward(xs[:, 3:]).copy()
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)


@pytest.mark.parametrize("cls", CLASSES)
def test_not_stateful_by_default(cls):
    layer = _layer(cls, 6)
    xs = np.random.default_rng(8).standard_normal((2, 3, 3))
    np.testing.assert_array_equal(layer.forward(xs), layer.forward(xs))
    assert layer.get_state() == {}
