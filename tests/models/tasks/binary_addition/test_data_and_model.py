"""Binary addition: the data, the stacked model's gradients and the all-pairs evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.layers.losses import sigmoid_loss
from rnnlab.models.tasks.binary_addition import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import (
    evaluation_pairs,
    from_bits,
    make_inputs,
    sample_batch,
    to_bits,
)
from rnnlab.models.tasks.binary_addition.evaluate import EvaluationSet, evaluate_set
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from tests.models.gradcheck import assert_gradient_close, numerical_gradient


def test_bits_round_trip_up_to_32_bits():
    n = np.array([0, 1, 82, 2**31 - 1, 2**32 - 1], dtype=np.int64)
    bits = to_bits(n, 32)
    assert bits.shape == (5, 32) and list(to_bits(np.array([6]), 4)[0]) == [0, 1, 1, 0]
    np.testing.assert_array_equal(from_bits(bits), n)


@pytest.mark.parametrize("binary_dim", [2, 8, 32])
def test_sample_batch_encodes_sums_lsb_first(binary_dim):
    xs, ts = sample_batch(np.random.default_rng(0), 500, binary_dim)
    assert xs.shape == (500, binary_dim, 2) and ts.shape == (500, binary_dim)
    assert xs.dtype == ts.dtype == np.float32
    a, b = from_bits(xs[:, :, 0]), from_bits(xs[:, :, 1])
    assert a.max() < 2 ** (binary_dim - 1) and b.max() < 2 ** (binary_dim - 1)
    np.testing.assert_array_equal(from_bits(ts), a + b)
    if binary_dim == 32:  # the high operand bits are really drawn
        assert a.max() > 2**29


def test_evaluation_pairs():
    a, b = evaluation_pairs(8)
    assert len(a) == 16384 and len({(x, y) for x, y in zip(a, b, strict=True)}) == 16384
    assert len(evaluation_pairs(9)[0]) == 65536  # still exhaustive
    a16, _ = evaluation_pairs(16)
    assert len(a16) == 65536 and np.array_equal(a16, evaluation_pairs(16)[0])  # a fixed sample


@pytest.mark.parametrize(
    ("cell", "num_layers", "binary_dim"),
    [("rnn", 1, 2), ("rnn", 1, 8), ("rnn", 2, 5), ("lstm", 2, 6), ("gru", 3, 4), ("lstm", 1, 9)],
)
def test_the_prefix_tree_gives_every_pair_its_forward_logits(cell, num_layers, binary_dim):
    """all_pairs_logits computes each bit prefix's state once; every pair's logits are the ones
    of its own forward pass, and the layers are left as they were."""
    config = BinaryAdditionConfig(cell=cell, num_layers=num_layers, binary_dim=binary_dim)
    net = BinaryAdditionNet(config, np.random.default_rng(binary_dim))
    a, b = evaluation_pairs(binary_dim)
    expected = net.forward(make_inputs(a, b, binary_dim))
    logits = net.all_pairs_logits(binary_dim)
    assert logits.shape == (len(a), binary_dim)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    assert all(not layer.stateful for layer in net.layers[:-1])
    again = net.forward(make_inputs(a[:3], b[:3], binary_dim))  # no state carried over
    np.testing.assert_allclose(again, expected[:3], rtol=1e-5, atol=1e-6)


def test_an_exhaustive_evaluation_agrees_with_one_pair_by_pair():
    config = BinaryAdditionConfig(hidden_size=8)
    net = BinaryAdditionNet(config, np.random.default_rng(2))
    a, b = evaluation_pairs(8)
    tree = EvaluationSet.build(a, b, 8)
    order = np.random.default_rng(3).permutation(len(a))  # not in order: chunks of forwards
    chunked = EvaluationSet.build(a[order], b[order], 8)
    assert tree.all_targets is not None and chunked.all_targets is None
    by_tree, by_chunks = evaluate_set(net, config, tree), evaluate_set(net, config, chunked)
    assert by_tree is not None and by_chunks is not None
    assert by_tree["accuracy"] == by_chunks["accuracy"] and by_tree["pairs"] == 16384
    assert by_tree["bit_accuracy"] == by_chunks["bit_accuracy"]
    assert by_tree["loss"] == pytest.approx(by_chunks["loss"], rel=1e-5)


@pytest.mark.parametrize("dropout", [0.0, 0.4], ids=["", "dropout"])
@pytest.mark.parametrize(
    ("num_layers", "bias", "loss", "activation"),
    [(1, False, "mse", "sigmoid"), (2, True, "bce", "tanh"), (3, True, "mse", "tanh")],
)
def test_stacked_model_gradients(num_layers, bias, loss, activation, dropout):
    """With dropout, every forward draws its masks from a generator of the same seed: fixed."""
    config = BinaryAdditionConfig(
        dropout=dropout,
        recurrent_dropout=dropout,
        binary_dim=5,
        hidden_size=4,
        num_layers=num_layers,
        bias=bias,
        loss=loss,
        activation=activation,
        init="normal",
        init_std=0.8,
    )
    net = BinaryAdditionNet(config, np.random.default_rng(0), dtype=np.float64)
    rng = np.random.default_rng(1)
    for p in net.params:  # non-zero biases everywhere
        if p.ndim == 1:
            p[...] = rng.standard_normal(p.shape) * 0.1
    xs, ts = sample_batch(rng, 3, 5, dtype=np.float64)
    loss_fn = sigmoid_loss(loss)

    def masks_rng():
        return np.random.default_rng(2) if dropout else None

    def f():
        return loss_fn(net.forward(xs, masks_rng()), ts)[0]

    _, dlogits = loss_fn(net.forward(xs, masks_rng()), ts)
    net.backward(dlogits)
    analytic = [g.copy() for g in net.grads]
    assert len(net.param_names) == num_layers * (3 if bias else 2) + (2 if bias else 1)
    for name, p, g in zip(net.param_names, net.params, analytic, strict=True):
        assert_gradient_close(g, numerical_gradient(f, p), name)
