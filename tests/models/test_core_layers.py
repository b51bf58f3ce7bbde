"""Initialisers, activations, TimeRNN, TimeAffine and the losses, checked by finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from models.activations import ACTIVATIONS, activation, sigmoid
from models.initializers import INITS, init_weight
from models.layers import TimeAffine, sigmoid_bce_loss, sigmoid_loss, sigmoid_mse_loss
from models.recurrent import CELLS, TimeRNN, make_recurrent
from models.training import (
    TrainingDiverged,
    check_finite,
    rng_from_array,
    rng_to_array,
)
from tests.models.gradcheck import (
    assert_gradient_close,
    check_layer_gradients,
    numerical_gradient,
)

F64 = np.float64


# --- initialisers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected_std"),
    [("normal", 2.0), ("xavier", 1 / np.sqrt(400)), ("he", np.sqrt(2 / 400))],
)
def test_init_weight_scale(kind, expected_std):
    w = init_weight(kind, np.random.default_rng(0), (400, 300), std=2.0)
    assert w.dtype == np.float32 and w.shape == (400, 300)
    assert w.std() == pytest.approx(expected_std, rel=0.02)


def test_init_weight_is_deterministic_and_honours_dtype():
    a = init_weight("xavier", np.random.default_rng(5), (3, 4), dtype=F64)
    b = init_weight("xavier", np.random.default_rng(5), (3, 4), dtype=F64)
    assert a.dtype == F64 and np.array_equal(a, b)
    assert not np.array_equal(a, init_weight("xavier", np.random.default_rng(6), (3, 4), dtype=F64))


def test_init_weight_rejects_unknown_kind():
    with pytest.raises(ValueError, match="normal, xavier, he"):
        init_weight("glorot", np.random.default_rng(0), (2, 2))
    assert INITS == ("normal", "xavier", "he")


# --- activations ------------------------------------------------------------------------------


def test_sigmoid_is_stable_and_correct():
    u = np.array([-1000.0, -30.0, -1.0, 0.0, 2.0, 1000.0], dtype=np.float32)
    with np.errstate(all="raise", under="ignore"):
        y = sigmoid(u)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[1:5], 1 / (1 + np.exp(-u[1:5].astype(F64))), rtol=1e-6)
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


# --- TimeRNN ----------------------------------------------------------------------------------


def _rnn(act="tanh", bias=True, seed=0, D=3, H=4):
    layer = TimeRNN(D, H, np.random.default_rng(seed), activation=act, bias=bias, dtype=F64)
    if bias:  # non-zero biases so that their gradient path is really exercised
        layer.params[2][...] = np.random.default_rng(seed + 1).standard_normal(H) * 0.1
    return layer


def _pre_activations(layer, xs):
    """Every u_t of a forward pass (to keep finite differences off ReLU's kink)."""
    layer.forward(xs)
    return layer._cache[2]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_time_rnn_gradients(act, bias):
    layer = _rnn(act, bias)
    xs = np.random.default_rng(2).standard_normal((2, 5, 3))
    if act == "relu":
        assert np.abs(_pre_activations(layer, xs)).min() > 1e-4
    errors = check_layer_gradients(layer, xs, dhs_seed=3)
    assert set(errors) == {"dWx", "dWh", *(["db"] if bias else []), "dxs"}
    assert layer.param_names == ["Wx", "Wh", *(["b"] if bias else [])]


def test_time_rnn_forward_matches_the_recurrence():
    layer = _rnn("sigmoid")
    Wx, Wh, b = layer.params
    xs = np.random.default_rng(1).standard_normal((2, 4, 3))
    h = np.zeros((2, 4))
    for t in range(4):
        h = sigmoid(xs[:, t] @ Wx + h @ Wh + b)
    np.testing.assert_allclose(layer.forward(xs)[:, -1], h, rtol=1e-12)


def test_time_rnn_stateful_second_window_gradients():
    layer = _rnn("tanh")
    layer.stateful = True
    rng = np.random.default_rng(4)
    xs1, xs2 = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 3))
    hs1 = layer.forward(xs1)
    np.testing.assert_array_equal(layer.get_state()["h"], hs1[:, -1])
    check_layer_gradients(layer, xs2, dhs_seed=5)  # restores the carried state before each pass
    carried = [g.copy() for g in layer.grads]

    fresh = _rnn("tanh")
    fresh.forward(xs2)
    fresh.backward(np.random.default_rng(5).standard_normal((2, 3, 4)))
    # the carried state must change the gradients, else this test checks nothing stateful
    assert not np.allclose(carried[1], fresh.grads[1])


def test_time_rnn_gradient_wrt_initial_state():
    layer = _rnn("tanh")
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


def test_time_rnn_state_resets_when_batch_size_changes():
    layer = _rnn("tanh")
    layer.stateful = True
    rng = np.random.default_rng(7)
    layer.forward(rng.standard_normal((2, 3, 3)))
    xs = rng.standard_normal((5, 3, 3))
    out = layer.forward(xs)
    fresh = _rnn("tanh").forward(xs)
    np.testing.assert_allclose(out, fresh)
    layer.reset_state()
    assert layer.get_state() == {}


def test_time_rnn_not_stateful_by_default():
    layer = _rnn("tanh")
    xs = np.random.default_rng(8).standard_normal((2, 3, 3))
    np.testing.assert_array_equal(layer.forward(xs), layer.forward(xs))
    assert layer.get_state() == {}


def test_time_rnn_float32_by_default():
    layer = TimeRNN(2, 3, np.random.default_rng(0))
    hs = layer.forward(np.ones((4, 5, 2), dtype=np.float32))
    dxs = layer.backward(np.ones_like(hs))
    assert hs.dtype == dxs.dtype == np.float32
    assert all(p.dtype == np.float32 for p in layer.params + layer.grads)


def test_backward_writes_grads_in_place():
    layer = _rnn("tanh")
    ids = [id(g) for g in layer.grads]
    xs = np.random.default_rng(0).standard_normal((2, 3, 3))
    layer.backward(layer.forward(xs))
    assert [id(g) for g in layer.grads] == ids and np.abs(layer.grads[0]).sum() > 0


def test_make_recurrent():
    rnn = make_recurrent("rnn", 3, 4, np.random.default_rng(0), activation="relu", bias=False)
    assert isinstance(rnn, TimeRNN) and rnn.param_names == ["Wx", "Wh"]
    with pytest.raises(ValueError, match="rnn, lstm, gru"):
        make_recurrent("transformer", 3, 4, np.random.default_rng(0))
    assert CELLS == ("rnn", "lstm", "gru")


# --- TimeAffine and losses --------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_time_affine_gradients(bias):
    layer = TimeAffine(4, 3, np.random.default_rng(0), "xavier", F64, bias=bias)
    if bias:
        layer.params[1][...] = [0.1, -0.2, 0.3]
    check_layer_gradients(layer, np.random.default_rng(1).standard_normal((2, 5, 4)))
    assert layer.param_names == ["W", "b"] if bias else ["W"]


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


# --- training helpers -------------------------------------------------------------------------


def test_rng_round_trip_continues_the_stream():
    rng = np.random.default_rng(42)
    rng.random(7)
    saved = rng_to_array(rng)
    assert saved.dtype == np.uint8 and saved.ndim == 1
    expected = rng.random(5)
    np.testing.assert_array_equal(rng_from_array(saved).random(5), expected)


def test_check_finite_messages():
    check_finite(1.5, 3)
    with pytest.raises(TrainingDiverged, match="loss became NaN at step 812: lower the learning"):
        check_finite(float("nan"), 812)
    with pytest.raises(TrainingDiverged, match="loss became infinite at step 9"):
        check_finite(float("inf"), 9)
