"""||dL/dh_t|| as the recurrent layers record it: the gradient each hidden state receives in
backpropagation through time, checked against finite differences on the textbook layers, the
fast layers against the textbook ones, and recording costs the training nothing in results."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.teaching import last_step_gradient_norms
from tests.models.gradcheck import numerical_gradient, randomize
from tests.models.layer_pairs import IDS, PAIRS

N, T, D, H = 3, 5, 3, 4


def _layers(reference_cls, fast_cls, options):
    reference = reference_cls(D, H, np.random.default_rng(0), dtype=np.float64, **options)
    randomize(reference, np.random.default_rng(1))
    fast = fast_cls(D, H, np.random.default_rng(0), dtype=np.float64, **options)
    for p, q in zip(reference.params, fast.params, strict=True):
        q[...] = p
    return reference, fast


def _data(seed=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))


def _numerical_dh(layer, xs, dhs, t):
    """d L / d h_t by centred differences, L = sum(dhs * hs), the other state parts (an LSTM's
    c_t) held: run the window to t, perturb h_t, run the rest from there."""
    layer.stateful = True
    layer.reset_state()
    hs_head = layer.forward(xs[:, : t + 1])
    state = layer.get_state()
    h_t = state["h"].copy()

    def loss():
        head = np.sum(dhs[:, :t] * hs_head[:, :t]) + np.sum(dhs[:, t] * h_t)
        if t == T - 1:
            return head
        layer.set_state({**state, "h": h_t})
        return head + np.sum(dhs[:, t + 1 :] * layer.forward(xs[:, t + 1 :]))

    grad = numerical_gradient(loss, h_t)
    layer.stateful = False
    layer.reset_state()
    return grad


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_reference_layers_record_the_norm_of_dl_dh_t(reference_cls, fast_cls, options):
    reference, _ = _layers(reference_cls, fast_cls, options)
    xs, dhs = _data()
    reference.forward(xs)
    reference.record_gradient_norms = True
    reference.backward(dhs)
    recorded = reference.gradient_norms.copy()
    expected = [np.linalg.norm(_numerical_dh(reference, xs, dhs, t)) for t in range(T)]
    np.testing.assert_allclose(recorded, expected, rtol=1e-6)


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_fast_layers_record_what_the_reference_layers_record(reference_cls, fast_cls, options):
    reference, fast = _layers(reference_cls, fast_cls, options)
    xs, dhs = _data()
    for layer in (reference, fast):
        layer.forward(xs)
        layer.record_gradient_norms = True
        layer.backward(dhs)
    np.testing.assert_allclose(fast.gradient_norms, reference.gradient_norms, rtol=1e-10)


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_nothing_is_recorded_unless_asked(reference_cls, fast_cls, options):
    for layer in _layers(reference_cls, fast_cls, options):
        xs, dhs = _data()
        layer.forward(xs)
        layer.backward(dhs)
        assert layer.gradient_norms is None


@pytest.mark.parametrize(("reference_cls", "fast_cls", "options"), PAIRS, ids=IDS)
def test_the_last_step_trace_leaves_the_training_backward_unchanged(
    reference_cls, fast_cls, options
):
    for layer in _layers(reference_cls, fast_cls, options):
        xs, dhs = _data()
        layer.forward(xs)
        plain_dxs = layer.backward(dhs).copy()
        plain = [g.copy() for g in layer.grads]

        layer.forward(xs)
        norms = last_step_gradient_norms(layer, dhs[:, -1], T).copy()
        assert not layer.record_gradient_norms
        assert np.array_equal(layer.backward(dhs), plain_dxs)
        for g, p in zip(layer.grads, plain, strict=True):
            assert np.array_equal(g, p)

        only_last = np.zeros_like(dhs)
        only_last[:, -1] = dhs[:, -1]
        expected = [np.linalg.norm(_numerical_dh(layer, xs, only_last, t)) for t in range(T)]
        np.testing.assert_allclose(norms, expected, rtol=1e-6)
