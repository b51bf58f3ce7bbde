"""The sigmoid through tanh equals the textbook sigmoid, and one tanh pass activates gates of
both kinds."""

from __future__ import annotations

import numpy as np

from rnnlab.models.fast.sigmoid import GateActivation, halved, sigmoid_, sigmoid_of_halved_
from rnnlab.models.layers.activations import sigmoid


def test_sigmoid_in_place_equals_the_textbook_one_without_overflow():
    u = np.array([-1000.0, -30.0, -1.5, 0.0, 0.25, 7.0, 1000.0])
    expected = sigmoid(u)
    out = sigmoid_(u)
    assert out is u
    # near 0 the tanh form cancels (1 - tanh): equal to rounding in absolute terms there
    np.testing.assert_allclose(u, expected, rtol=1e-12, atol=1e-15)
    three = np.array([3.0])
    np.testing.assert_allclose(sigmoid_of_halved_(halved(three)), sigmoid(three), rtol=1e-12)


def test_one_tanh_pass_activates_sigmoid_and_tanh_gates():
    H = 3
    gates = GateActivation("ssts", H, np.float64)
    a = np.random.default_rng(0).standard_normal((2, 4 * H))
    out = gates.activate_(gates.halve(a))
    np.testing.assert_allclose(out[:, : 2 * H], sigmoid(a[:, : 2 * H]), rtol=1e-12)
    np.testing.assert_allclose(out[:, 2 * H : 3 * H], np.tanh(a[:, 2 * H : 3 * H]), rtol=1e-12)
    np.testing.assert_allclose(out[:, 3 * H :], sigmoid(a[:, 3 * H :]), rtol=1e-12)
    first_three = gates.activate_(gates.halve(a)[:, : 3 * H])  # the columns before o only
    np.testing.assert_array_equal(first_three, out[:, : 3 * H])
