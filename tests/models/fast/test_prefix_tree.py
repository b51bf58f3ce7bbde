"""All binary-addition pairs along the tree of bit prefixes against a forward pass over each."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.fast.prefix_tree import all_pairs_logits
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import evaluation_pairs, make_inputs
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet


@pytest.mark.parametrize(
    ("cell", "num_layers", "binary_dim", "implementation"),
    [
        ("rnn", 1, 2, "fast"),
        ("rnn", 1, 8, "fast"),
        ("rnn", 2, 5, "fast"),
        ("lstm", 2, 6, "fast"),
        ("gru", 3, 4, "fast"),
        ("lstm", 1, 9, "fast"),
        ("lstm", 2, 5, "reference"),  # the tree only needs the layer contract
    ],
)
def test_every_pair_gets_its_forward_logits(cell, num_layers, binary_dim, implementation):
    """Each bit prefix's state is computed once; every pair's logits are the ones of its own
    forward pass, and the layers are left as they were."""
    config = BinaryAdditionConfig(
        cell=cell, num_layers=num_layers, binary_dim=binary_dim, implementation=implementation
    )
    net = BinaryAdditionNet(config, np.random.default_rng(binary_dim))
    a, b = evaluation_pairs(binary_dim)
    expected = net.forward(make_inputs(a, b, binary_dim))
    logits = all_pairs_logits(net.layers[:-1], net.layers[-1], binary_dim)
    assert logits.shape == (len(a), binary_dim)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    assert all(not layer.stateful for layer in net.layers[:-1])
    again = net.forward(make_inputs(a[:3], b[:3], binary_dim))  # no state carried over
    np.testing.assert_allclose(again, expected[:3], rtol=1e-5, atol=1e-6)
