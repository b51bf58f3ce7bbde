"""The fast recurrent layers compute what the textbook layers compute: same parameters, same
outputs and gradients to float rounding, the same carried-state behaviour, the same dropout
(masks of ones: no dropout, bit for bit); and their own backward passes hold against finite
differences."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models import parallel
from rnnlab.models.fast.lstm import FastLSTM
from rnnlab.models.fast.rnn import FastRNN
from rnnlab.models.layers.dropout import SequenceMasks, sequence_masks
from tests.models.gradcheck import (
    assert_gradient_close,
    check_layer_gradients,
    numerical_gradient,
    randomize,
)
from tests.models.layer_pairs import IDS, PAIRS


def _pair(reference_cls, fast_cls, options, seed=0, dtype=np.float64):
    """The two layers from the same seed: the same initial weights, which we then randomise."""
    reference = reference_cls(3, 4, np.random.default_rng(seed), dtype=dtype, **options)
    fast = fast_cls(3, 4, np.random.default_rng(seed), dtype=dtype, **options)
    assert reference.param_names == fast.param_names
    for p, q in zip(reference.params, fast.params, strict=True):
        np.testing.assert_array_equal(p, q)
    randomize(reference, np.random.default_rng(seed + 1))
    for p, q in zip(reference.params, fast.params, strict=True):
        q[...] = p
    return reference, fast


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_fast_layer_equals_the_reference(reference_cls, fast_cls, options):
    reference, fast = _pair(reference_cls, fast_cls, options)
    rng = np.random.default_rng(2)
    for layer in (reference, fast):
        layer.stateful = True
    for _ in range(2):  # the second window starts from the carried state
        xs = rng.standard_normal((3, 5, 3))
        R = rng.standard_normal((3, 5, 4))
        np.testing.assert_allclose(fast.forward(xs), reference.forward(xs), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(fast.backward(R), reference.backward(R), rtol=1e-10, atol=1e-12)
        for name, g, h in zip(fast.param_names, fast.grads, reference.grads, strict=True):
            np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12, err_msg=name)
        for key, value in reference.get_state().items():
            np.testing.assert_allclose(fast.get_state()[key], value, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_fast_layer_gradients(reference_cls, fast_cls, options):
    _, fast = _pair(reference_cls, fast_cls, options, seed=3)
    check_layer_gradients(fast, np.random.default_rng(4).standard_normal((2, 5, 3)))
    fast.stateful = True
    fast.forward(np.random.default_rng(5).standard_normal((2, 4, 3)))
    check_layer_gradients(fast, np.random.default_rng(6).standard_normal((2, 3, 3)))


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_float32_equals_the_reference_to_float_rounding(reference_cls, fast_cls, options):
    reference, fast = _pair(reference_cls, fast_cls, options, seed=7, dtype=np.float32)
    xs = np.random.default_rng(8).standard_normal((4, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(fast.forward(xs), reference.forward(xs), rtol=1e-5, atol=1e-6)


def test_fast_rnn_gradient_wrt_initial_state():
    layer = FastRNN(3, 4, np.random.default_rng(0), dtype=np.float64)
    layer.stateful = True
    rng = np.random.default_rng(6)
    h0 = rng.standard_normal((2, 4))
    xs = rng.standard_normal((2, 3, 3))
    R = rng.standard_normal((2, 3, 4))

    def loss():
        layer.set_state({"h": h0})
        return float(np.sum(layer.forward(xs) * R))

    loss()
    layer.backward(R)
    assert_gradient_close(layer.dh, numerical_gradient(loss, h0), "dh0")


def test_fast_lstm_gives_identical_results_on_one_or_two_threads():
    """Threads only change who computes a shard: every sum runs in the same order."""
    results = []
    old = parallel.TRAIN_THREADS
    try:
        for threads in (1, 2):
            parallel.set_train_threads(threads)
            rng = np.random.default_rng(13)
            layer = FastLSTM(6, 40, rng)
            out = layer.forward(rng.standard_normal((8, 5, 6)).astype(np.float32))
            dx = layer.backward(rng.standard_normal(out.shape).astype(np.float32))
            results.append([out.copy(), dx.copy(), *(g.copy() for g in layer.grads)])
    finally:
        parallel.set_train_threads(old)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def _masks(seed, n, dropout=0.5, recurrent_dropout=0.3, dtype=np.float64):
    return sequence_masks(np.random.default_rng(seed), n, 3, 4, dropout, recurrent_dropout, dtype)


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
@pytest.mark.parametrize("rates", [(0.5, 0.3), (0.5, 0.0), (0.0, 0.3)], ids=["both", "x", "h"])
def test_fast_layer_with_dropout_equals_the_reference(reference_cls, fast_cls, options, rates):
    reference, fast = _pair(reference_cls, fast_cls, options, seed=9)
    rng = np.random.default_rng(10)
    for layer in (reference, fast):
        layer.stateful = True
    for window in range(2):  # the second window starts from the carried state, new masks
        masks = _masks(11 + window, 3, *rates)
        xs = rng.standard_normal((3, 5, 3))
        R = rng.standard_normal((3, 5, 4))
        np.testing.assert_allclose(
            fast.forward(xs, masks), reference.forward(xs, masks), rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(fast.backward(R), reference.backward(R), rtol=1e-10, atol=1e-12)
        for name, g, h in zip(fast.param_names, fast.grads, reference.grads, strict=True):
            np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_fast_layer_gradients_with_fixed_masks(reference_cls, fast_cls, options):
    _, fast = _pair(reference_cls, fast_cls, options, seed=12)
    xs = np.random.default_rng(13).standard_normal((2, 5, 3))
    check_layer_gradients(fast, xs, masks=_masks(14, 2))
    fast.stateful = True
    fast.forward(np.random.default_rng(15).standard_normal((2, 4, 3)), _masks(16, 2))
    check_layer_gradients(fast, xs, masks=_masks(17, 2))


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_fast_layer_with_masks_of_ones_is_bit_identical_to_no_dropout(
    reference_cls, fast_cls, options
):
    _, fast = _pair(reference_cls, fast_cls, options, seed=18, dtype=np.float32)
    rng = np.random.default_rng(19)
    xs = rng.standard_normal((4, 6, 3)).astype(np.float32)
    R = rng.standard_normal((4, 6, 4)).astype(np.float32)
    plain = fast.forward(xs).copy(), fast.backward(R).copy(), [g.copy() for g in fast.grads]
    ones = SequenceMasks(np.ones((4, 3), np.float32), np.ones((4, 4), np.float32))
    masked = fast.forward(xs, ones).copy(), fast.backward(R).copy(), [g.copy() for g in fast.grads]
    for a, b in zip([*plain[:2], *plain[2]], [*masked[:2], *masked[2]], strict=True):
        np.testing.assert_array_equal(a, b)
