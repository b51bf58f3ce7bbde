"""The textbook cells (RNN, LSTM, GRU) and their time wrapper, checked by finite differences
and against the notes' equations written out step by step."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.layers.activations import ACTIVATIONS, sigmoid
from rnnlab.models.layers.gru import TimeGRU
from rnnlab.models.layers.lstm import TimeLSTM
from rnnlab.models.layers.rnn import TimeRNN
from tests.models.gradcheck import check_layer_gradients, randomize

F64 = np.float64
CLASSES = [TimeRNN, TimeLSTM, TimeGRU]


def _rnn(act="tanh", bias=True, seed=0, D=3, H=4):
    layer = TimeRNN(D, H, np.random.default_rng(seed), activation=act, bias=bias, dtype=F64)
    if bias:  # non-zero biases so that their gradient path is really exercised
        layer.params[2][...] = np.random.default_rng(seed + 1).standard_normal(H) * 0.1
    return layer


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_rnn_gradients(act, bias):
    layer = _rnn(act, bias)
    xs = np.random.default_rng(2).standard_normal((2, 5, 3))
    errors = check_layer_gradients(layer, xs, dhs_seed=3)
    assert set(errors) == {"dWx", "dWh", *(["db"] if bias else []), "dxs"}
    assert layer.param_names == (["Wx", "Wh", "b"] if bias else ["Wx", "Wh"])


@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_gradients(peephole):
    rng = np.random.default_rng(0)
    layer = TimeLSTM(3, 4, rng, peephole=peephole, dtype=F64)
    randomize(layer, rng)
    check_layer_gradients(layer, rng.standard_normal((2, 5, 3)))


def test_gru_gradients():
    rng = np.random.default_rng(1)
    layer = TimeGRU(3, 4, rng, dtype=F64)
    randomize(layer, rng)
    check_layer_gradients(layer, rng.standard_normal((2, 5, 3)))


def test_rnn_forward_is_the_notes_recurrence():
    layer = _rnn("sigmoid")
    Wx, Wh, b = layer.params
    xs = np.random.default_rng(1).standard_normal((2, 4, 3))
    z = np.zeros((4, 2))  # the notes' column vectors: one column per sample
    for t in range(4):
        z = sigmoid(Wx.T @ xs[:, t].T + Wh.T @ z + b[:, None])  # u_t = W_in x_t + W z_{t-1} + b
    np.testing.assert_allclose(layer.forward(xs)[:, -1], z.T, rtol=1e-12)


def test_lstm_forward_is_the_gate_equations():
    rng = np.random.default_rng(2)
    layer = TimeLSTM(3, 2, rng, peephole=True, dtype=F64)
    randomize(layer, rng)
    Wx, Wh, b, p = layer.params
    xs = rng.standard_normal((1, 3, 3))
    h, c = np.zeros(2), np.zeros(2)
    for t in range(3):
        a = xs[0, t] @ Wx + h @ Wh + b
        i = 1 / (1 + np.exp(-(a[0:2] + p[0] * c)))
        f = 1 / (1 + np.exp(-(a[2:4] + p[1] * c)))
        g = np.tanh(a[4:6])
        c = f * c + i * g
        o = 1 / (1 + np.exp(-(a[6:8] + p[2] * c)))
        h = o * np.tanh(c)
    np.testing.assert_allclose(layer.forward(xs)[0, -1], h, rtol=1e-12)


def test_lstm_layout_and_forget_bias():
    layer = TimeLSTM(3, 4, np.random.default_rng(5), peephole=True)
    assert layer.param_names == ["Wx", "Wh", "b", "p"]
    assert [p.shape for p in layer.params] == [(3, 16), (4, 16), (16,), (3, 4)]
    np.testing.assert_array_equal(layer.params[2][4:8], 1.0)
    np.testing.assert_array_equal(layer.params[2][:4], 0.0)


def test_gru_layout():
    layer = TimeGRU(3, 4, np.random.default_rng(6))
    assert layer.param_names == ["Wx", "Wh", "b", "bh"]
    assert [p.shape for p in layer.params] == [(3, 12), (4, 12), (12,), (4,)]


@pytest.mark.parametrize("cls", CLASSES)
def test_float32_by_default(cls):
    layer = cls(2, 3, np.random.default_rng(0))
    hs = layer.forward(np.ones((4, 5, 2), dtype=np.float32))
    dxs = layer.backward(np.ones_like(hs))
    assert hs.dtype == dxs.dtype == np.float32
    assert all(p.dtype == np.float32 for p in layer.params + layer.grads)


@pytest.mark.parametrize("cls", CLASSES)
def test_backward_writes_grads_in_place(cls):
    layer = cls(3, 4, np.random.default_rng(0), dtype=F64)
    ids = [id(g) for g in layer.grads]
    xs = np.random.default_rng(0).standard_normal((2, 3, 3))
    layer.backward(layer.forward(xs))
    first = [g.copy() for g in layer.grads]
    layer.backward(layer.forward(xs))  # a second pass replaces the gradients, never adds to them
    assert [id(g) for g in layer.grads] == ids and np.abs(layer.grads[0]).sum() > 0
    for g, g1 in zip(layer.grads, first, strict=True):
        np.testing.assert_array_equal(g, g1)


@pytest.mark.parametrize("cls", CLASSES)
def test_same_seed_same_weights(cls):
    a, b = cls(3, 4, np.random.default_rng(7)), cls(3, 4, np.random.default_rng(7))
    for p, q in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(p, q)
