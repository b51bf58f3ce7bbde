"""The plain activations of models/layers/activations.py."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.layers.activations import ACTIVATIONS, activation, sigmoid


def test_sigmoid_is_stable_and_correct():
    u = np.array([-1000.0, -30.0, -1.0, 0.0, 2.0, 1000.0], dtype=np.float32)
    with np.errstate(all="raise", under="ignore"):
        y = sigmoid(u)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[1:5], 1 / (1 + np.exp(-u[1:5].astype(np.float64))), rtol=1e-6)
    assert y[0] == 0.0 and y[-1] == 1.0


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_grad_matches_finite_differences(name):
    act = activation(name)
    u = np.array([-2.0, -0.7, 0.3, 1.5])  # away from ReLU's kink
    z = act.fn(u)
    numeric = np.array(
        [(act.fn(np.array(x + 1e-6)) - act.fn(np.array(x - 1e-6))) / 2e-6 for x in u]
    )
    np.testing.assert_allclose(act.grad(u, z), numeric, rtol=1e-6, atol=1e-9)


def test_activation_rejects_unknown_name():
    with pytest.raises(ValueError, match="sigmoid, tanh, relu"):
        activation("softplus")
