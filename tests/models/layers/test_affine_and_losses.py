"""TimeAffine, the sigmoid losses and softmax cross-entropy, checked by finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.layers.affine import TimeAffine
from rnnlab.models.layers.losses import (
    TimeSoftmaxCrossEntropy,
    log_softmax,
    sigmoid_bce_loss,
    sigmoid_loss,
    sigmoid_mse_loss,
    softmax_cross_entropy,
)
from tests.models.gradcheck import (
    assert_gradient_close,
    check_layer_gradients,
    numerical_gradient,
)

F64 = np.float64


@pytest.mark.parametrize("bias", [True, False])
def test_time_affine_gradients(bias):
    layer = TimeAffine(4, 3, np.random.default_rng(0), "xavier", F64, bias=bias)
    if bias:
        layer.params[1][...] = [0.1, -0.2, 0.3]
    errors = check_layer_gradients(layer, np.random.default_rng(1).standard_normal((2, 5, 4)))
    # the expected names in parentheses: `a == b if c else d` once made this line always pass
    assert layer.param_names == (["W", "b"] if bias else ["W"])
    assert set(errors) == ({"dW", "db", "dxs"} if bias else {"dW", "dxs"})


@pytest.mark.parametrize("loss_fn", [sigmoid_mse_loss, sigmoid_bce_loss])
def test_loss_gradients(loss_fn):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 6)) * 2
    targets = (rng.random((3, 6)) > 0.5).astype(F64)
    _, dlogits = loss_fn(logits, targets)
    numeric = numerical_gradient(lambda: loss_fn(logits, targets)[0], logits)
    assert_gradient_close(dlogits, numeric, "dlogits")


def test_loss_values():
    logits = np.array([[0.0, 2.0], [-1.0, 3.0]])
    targets = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = 1 / (1 + np.exp(-logits))
    mse, _ = sigmoid_mse_loss(logits, targets)
    bce, _ = sigmoid_bce_loss(logits, targets)
    # summed over the steps of a sample, averaged over the samples
    assert mse == pytest.approx(0.5 * np.sum((y - targets) ** 2) / 2)
    expected_bce = -np.sum(targets * np.log(y) + (1 - targets) * np.log(1 - y)) / 2
    assert bce == pytest.approx(expected_bce)


def test_bce_is_finite_for_saturated_logits():
    logits = np.array([[-200.0, 200.0]], dtype=np.float32)
    with np.errstate(all="raise", under="ignore"):
        loss, d = sigmoid_bce_loss(logits, np.array([[1.0, 0.0]], dtype=np.float32))
    assert loss == pytest.approx(400.0) and np.all(np.isfinite(d)) and d.dtype == np.float32


def test_sigmoid_loss_by_name():
    assert sigmoid_loss("mse") is sigmoid_mse_loss and sigmoid_loss("bce") is sigmoid_bce_loss
    with pytest.raises(ValueError, match="mse, bce"):
        sigmoid_loss("hinge")


def test_softmax_cross_entropy_gradient_and_value():
    rng = np.random.default_rng(10)
    logits = rng.standard_normal((2, 3, 5))
    targets = rng.integers(0, 5, (2, 3))
    loss, dlogits = softmax_cross_entropy(logits, targets)
    expected = -np.mean(np.take_along_axis(log_softmax(logits), targets[..., None], -1))
    assert loss == pytest.approx(expected, rel=1e-12)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(logits, targets)[0], logits)
    assert_gradient_close(dlogits, numeric, "dlogits")
    layer = TimeSoftmaxCrossEntropy()
    assert layer.forward(logits, targets) == pytest.approx(loss)
    np.testing.assert_allclose(layer.backward(), dlogits)


def test_softmax_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    loss, d = softmax_cross_entropy(logits, np.array([2]))
    assert np.isfinite(loss) and loss == pytest.approx(2000.0)
    assert np.all(np.isfinite(d))
