"""The embedding lookup, the word model's affine + softmax output and dropout."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.layers.dropout import Dropout
from rnnlab.models.layers.embedding import Embedding, scatter_add_rows
from rnnlab.models.layers.losses import softmax_cross_entropy
from rnnlab.models.layers.output import AffineSoftmax
from tests.models.gradcheck import assert_gradient_close, numerical_gradient, randomize


def test_embedding_gradients_with_repeated_ids():
    rng = np.random.default_rng(8)
    layer = Embedding(6, 3, rng, dtype=np.float64)
    ids = np.array([[0, 2, 2, 5], [5, 5, 1, 2]])
    out = layer.forward(ids)
    np.testing.assert_array_equal(out, layer.params[0][ids])
    R = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(layer.forward(ids) * R))

    layer.forward(ids)
    layer.backward(R)
    assert_gradient_close(layer.grads[0], numerical_gradient(loss, layer.params[0]), "dW")
    assert np.all(layer.grads[0][[3, 4]] == 0)  # rows never looked up get no gradient


def test_scatter_add_rows_matches_add_at():
    rng = np.random.default_rng(9)
    ids = rng.integers(0, 50, 300)
    rows = rng.standard_normal((300, 4))
    expected = np.zeros((50, 4))
    np.add.at(expected, ids, rows)
    got = np.zeros((50, 4))
    scatter_add_rows(got, ids, rows)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_affine_softmax_gradients_and_evaluation():
    rng = np.random.default_rng(11)
    layer = AffineSoftmax(4, 7, rng, dtype=np.float64)
    randomize(layer, rng)
    hs = rng.standard_normal((2, 3, 4))
    targets = rng.integers(0, 7, (2, 3))

    def f():
        return layer.forward(hs, targets, need_grad=False)

    loss = layer.forward(hs, targets)
    logits = hs @ layer.params[0] + layer.params[1]
    assert loss == pytest.approx(softmax_cross_entropy(logits, targets)[0], rel=1e-12)
    dhs = layer.backward().copy()
    analytic = [g.copy() for g in layer.grads]
    for name, p, g in zip(layer.param_names, layer.params, analytic, strict=True):
        assert_gradient_close(g, numerical_gradient(f, p), f"d{name}")
    assert_gradient_close(dhs, numerical_gradient(f, hs), "dhs")
    loss_sum, hits = layer.evaluate(hs, targets)
    assert loss_sum == pytest.approx(loss * 6, rel=1e-12)
    assert hits == int((logits.argmax(-1) == targets).sum())
    np.testing.assert_allclose(layer.last_step_logits(hs[:, -1]), logits[:, -1], rtol=1e-12)


def test_dropout_keeps_the_expectation_and_masks_the_gradient():
    rng = np.random.default_rng(0)
    layer = Dropout(0.25)
    x = np.ones((400, 50), np.float32)
    y = layer.forward(x, rng)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)
    assert layer.forward(x, None) is x  # no generator: inference, the identity
