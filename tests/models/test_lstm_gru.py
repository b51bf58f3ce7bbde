"""Finite-difference checks (float64, centred) of the LSTM, GRU, embedding and softmax layers."""

from __future__ import annotations

import numpy as np
import pytest

from models.embedding import Embedding, scatter_add_rows
from models.gru import TimeGRU
from models.lstm import TimeLSTM
from models.softmax import (
    SoftmaxOutput,
    TimeSoftmaxCrossEntropy,
    log_softmax,
    softmax_cross_entropy,
)

try:  # the shared helpers of the core tests, when present
    from tests.models.gradcheck import numerical_gradient
except ImportError:  # pragma: no cover - local fallback

    def numerical_gradient(f, array, eps=1e-6):
        """Centred differences of the scalar f() w.r.t. every entry of array (changed in place)."""
        grad = np.zeros_like(array)
        it = np.nditer(array, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            old = array[idx]
            array[idx] = old + eps
            plus = f()
            array[idx] = old - eps
            minus = f()
            array[idx] = old
            grad[idx] = (plus - minus) / (2 * eps)
        return grad


RTOL = 1e-5
ATOL = 1e-7


def assert_close(analytic, numeric, what):
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL, err_msg=what)


def check_layer(layer, xs, weights=None, *, check_input=True):
    """Compare layer.backward's dxs and grads with finite differences of sum(forward(xs) * R)."""
    rng = np.random.default_rng(99)
    out = layer.forward(xs)
    R = rng.standard_normal(out.shape) if weights is None else weights

    def loss():
        return float(np.sum(layer.forward(xs) * R))

    layer.forward(xs)
    dxs = layer.backward(R.copy())
    analytic = [g.copy() for g in layer.grads]
    for name, p, g in zip(layer.param_names, layer.params, analytic, strict=True):
        assert_close(g, numerical_gradient(loss, p), f"d{name}")
    if check_input:
        assert_close(dxs, numerical_gradient(loss, xs), "dxs")
    return dxs


def randomize(layer, rng, scale=0.5):
    """Non-trivial values everywhere (biases and peepholes start at constants)."""
    for p in layer.params:
        p[...] = scale * rng.standard_normal(p.shape)


@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_gradients(peephole):
    rng = np.random.default_rng(0)
    layer = TimeLSTM(3, 4, rng, peephole=peephole, dtype=np.float64)
    randomize(layer, rng)
    check_layer(layer, rng.standard_normal((2, 5, 3)))


def test_gru_gradients():
    rng = np.random.default_rng(1)
    layer = TimeGRU(3, 4, rng, dtype=np.float64)
    randomize(layer, rng)
    check_layer(layer, rng.standard_normal((2, 5, 3)))


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
def test_carried_state_is_a_constant_for_backward(cls):
    """Window 2's gradients treat the state carried from window 1 as a constant (truncated BPTT)."""
    rng = np.random.default_rng(2)
    layer = cls(3, 4, rng, dtype=np.float64)
    randomize(layer, rng)
    layer.stateful = True
    layer.forward(rng.standard_normal((2, 4, 3)))
    carried = layer.get_state()
    assert carried and all(np.abs(v).sum() > 0 for v in carried.values())
    xs2 = rng.standard_normal((2, 3, 3))
    R = rng.standard_normal((2, 3, 4))

    def loss():
        layer.set_state(carried)  # same constant initial state for every evaluation
        return float(np.sum(layer.forward(xs2) * R))

    loss()
    layer.backward(R.copy())
    analytic = [g.copy() for g in layer.grads]
    for name, p, g in zip(layer.param_names, layer.params, analytic, strict=True):
        assert_close(g, numerical_gradient(loss, p), f"d{name}")
    # and the carried state really changed the output
    layer.set_state(carried)
    with_state = layer.forward(xs2).copy()
    layer.reset_state()
    assert not np.allclose(with_state, layer.forward(xs2))


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
def test_state_is_dropped_when_batch_size_changes(cls):
    rng = np.random.default_rng(3)
    layer = cls(3, 4, rng)
    layer.stateful = True
    layer.forward(rng.standard_normal((2, 4, 3)).astype(np.float32))
    xs = rng.standard_normal((5, 2, 3)).astype(np.float32)
    out = layer.forward(xs).copy()
    layer.reset_state()
    np.testing.assert_array_equal(out, layer.forward(xs))


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
def test_window_split_equals_one_long_window(cls):
    """Stateful forward over two windows == one forward over the concatenation."""
    rng = np.random.default_rng(4)
    layer = cls(3, 5, rng, dtype=np.float64)
    xs = rng.standard_normal((2, 7, 3))
    whole = layer.forward(xs).copy()
    layer.stateful = True
    first = layer.forward(xs[:, :3]).copy()
    second = layer.forward(xs[:, 3:]).copy()
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)


def test_lstm_layout_and_forget_bias():
    rng = np.random.default_rng(5)
    layer = TimeLSTM(3, 4, rng, peephole=True)
    assert layer.param_names == ["Wx", "Wh", "b", "p"]
    assert [p.shape for p in layer.params] == [(3, 16), (4, 16), (16,), (3, 4)]
    assert all(p.dtype == np.float32 for p in layer.params)
    np.testing.assert_array_equal(layer.params[2][4:8], 1.0)
    np.testing.assert_array_equal(layer.params[2][:4], 0.0)
    out = layer.forward(rng.standard_normal((2, 3, 3)).astype(np.float32))
    assert out.shape == (2, 3, 4) and out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32


def test_gru_layout():
    layer = TimeGRU(3, 4, np.random.default_rng(6))
    assert layer.param_names == ["Wx", "Wh", "b", "bh"]
    assert [p.shape for p in layer.params] == [(3, 12), (4, 12), (12,), (4,)]


def test_same_seed_same_weights():
    a = TimeLSTM(3, 4, np.random.default_rng(7))
    b = TimeLSTM(3, 4, np.random.default_rng(7))
    for p, q in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(p, q)


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
    assert_close(layer.grads[0], numerical_gradient(loss, layer.params[0]), "dW")
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


def test_softmax_cross_entropy_gradient_and_value():
    rng = np.random.default_rng(10)
    logits = rng.standard_normal((2, 3, 5))
    targets = rng.integers(0, 5, (2, 3))
    loss, dlogits = softmax_cross_entropy(logits, targets)
    expected = -np.mean(np.take_along_axis(log_softmax(logits), targets[..., None], -1))
    assert loss == pytest.approx(expected, rel=1e-12)

    def f():
        return softmax_cross_entropy(logits, targets)[0]

    assert_close(dlogits, numerical_gradient(f, logits), "dlogits")
    layer = TimeSoftmaxCrossEntropy()
    assert layer.forward(logits, targets) == pytest.approx(loss)
    np.testing.assert_allclose(layer.backward(), dlogits)


def test_softmax_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    loss, d = softmax_cross_entropy(logits, np.array([2]))
    assert np.isfinite(loss) and loss == pytest.approx(2000.0)
    assert np.all(np.isfinite(d))


@pytest.mark.parametrize("block_rows", [1, 4, 256])
def test_softmax_output_gradients_in_blocks(block_rows):
    rng = np.random.default_rng(11)
    layer = SoftmaxOutput(4, 7, rng, dtype=np.float64, block_rows=block_rows)
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
        assert_close(g, numerical_gradient(f, p), f"d{name}")
    assert_close(dhs, numerical_gradient(f, hs), "dhs")
    loss_sum, hits = layer.evaluate(hs, targets)
    assert loss_sum == pytest.approx(loss * 6, rel=1e-12)
    assert hits == int((logits.argmax(-1) == targets).sum())


@pytest.mark.parametrize("scale", [1.0, 40.0])  # 40: logits beyond EXP_SAFE take the shifted path
def test_softmax_output_matches_reference_with_small_and_huge_logits(scale):
    from models.softmax import EXP_SAFE

    rng = np.random.default_rng(12)
    layer = SoftmaxOutput(4, 9, rng, dtype=np.float64, block_rows=2)
    randomize(layer, rng, scale=scale)
    hs = rng.standard_normal((3, 5, 4))
    targets = rng.integers(0, 9, (3, 5))
    logits = hs @ layer.params[0] + layer.params[1]
    assert (np.abs(logits).max() > EXP_SAFE) == (scale > 1)
    loss, dlogits = softmax_cross_entropy(logits, targets)
    assert layer.forward(hs, targets) == pytest.approx(loss, rel=1e-12)
    assert np.isfinite(loss)
    np.testing.assert_allclose(
        layer.backward(), dlogits @ layer.params[0].T, rtol=1e-10, atol=1e-12
    )
    dW = hs.reshape(-1, 4).T @ dlogits.reshape(-1, 9)
    np.testing.assert_allclose(layer.grads[0], dW, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads[1], dlogits.sum(axis=(0, 1)), rtol=1e-10, atol=1e-12)


def test_shards_and_parallel_map():
    from models import parallel

    assert parallel.shard_slices(7, 2) == [slice(0, 3), slice(3, 7)]
    assert parallel.shard_slices(1, 2) == [slice(0, 1)]
    old = parallel.TRAIN_THREADS
    try:
        parallel.set_train_threads(2)
        assert parallel.parallel_map(lambda i: i * i, range(5)) == [0, 1, 4, 9, 16]
    finally:
        parallel.set_train_threads(old)


@pytest.mark.parametrize("cls", [TimeLSTM, SoftmaxOutput])
def test_layers_give_identical_results_on_one_or_two_threads(cls):
    """Threads only change who computes a shard: every sum runs in the same order."""
    from models import parallel

    results = []
    old = parallel.TRAIN_THREADS
    try:
        for threads in (1, 2):
            parallel.set_train_threads(threads)
            rng = np.random.default_rng(13)
            layer = cls(6, 40, rng)
            if cls is TimeLSTM:
                out = layer.forward(rng.standard_normal((8, 5, 6)).astype(np.float32))
                dx = layer.backward(rng.standard_normal(out.shape).astype(np.float32))
            else:
                hs = rng.standard_normal((8, 5, 6)).astype(np.float32)
                out = np.array(layer.forward(hs, rng.integers(0, 40, (8, 5))))
                dx = layer.backward()
            results.append([out.copy(), dx.copy(), *(g.copy() for g in layer.grads)])
    finally:
        parallel.set_train_threads(old)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_rows_of_different_lengths_match_the_padded_pass(peephole):
    """With lengths (longest first) each row stops after its own steps: its outputs there are
    the padded pass's, to float rounding, and no state is carried from the ragged last step."""
    rng = np.random.default_rng(21)
    layer = TimeLSTM(5, 6, rng, peephole=peephole)
    if peephole:
        layer.params[3][...] = rng.standard_normal(layer.params[3].shape)
    xs = rng.standard_normal((4, 7, 5)).astype(np.float32)
    lengths = np.array([7, 5, 5, 1])
    padded = layer.forward(xs).copy()
    layer.stateful = True
    ragged = layer.forward(xs, lengths)
    for row, length in enumerate(lengths):
        np.testing.assert_allclose(ragged[row, :length], padded[row, :length], rtol=1e-5, atol=1e-6)
        assert not ragged[row, length:].any()  # zeros past the end, safe for a next layer
    assert layer.h is None and layer.c is None
    with pytest.raises(AssertionError, match="longest first"):
        layer.forward(xs, np.array([1, 7, 5, 5]))


def test_lstm_input_table_is_the_projection_of_the_embedding():
    rng = np.random.default_rng(22)
    vectors = rng.standard_normal((30, 5)).astype(np.float32)
    layer = TimeLSTM(5, 6, rng)
    ids = rng.integers(0, 30, (3, 4))
    expected = layer.forward(vectors[ids]).copy()
    layer.freeze(vectors)
    assert layer.has_input_table()
    np.testing.assert_allclose(layer.forward(vectors[ids]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.forward_ids(ids), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(AssertionError, match="before forward"):
        layer.backward(np.ones_like(expected))  # a lookup pass is for serving only
