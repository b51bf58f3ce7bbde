"""Binary addition: configuration bounds and prediction from saved weights."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition import BinaryAdder, BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import (
    evaluation_pairs,
    from_bits,
)
from rnnlab.models.tasks.binary_addition.train import train


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("binary_dim", 1, "binary_dim must be an integer from 2 to 32; got 1"),
        ("binary_dim", 33, "binary_dim must be an integer from 2 to 32"),
        ("binary_dim", 8.0, "binary_dim must be an integer"),
        ("num_layers", 4, "num_layers must be an integer from 1 to 3"),
        ("cell", "transformer", "cell must be one of rnn, lstm, gru"),
        ("activation", "gelu", "activation must be one of sigmoid, tanh, relu"),
        ("init", "orthogonal", "init must be one of normal, xavier, he"),
        ("optimizer", "lbfgs", "optimizer must be one of sgd, momentum"),
        ("learning_rate", 0.0, r"learning_rate must be a number in \(0, 100\]"),
        ("learning_rate", float("nan"), "learning_rate must be a number in"),
        ("init_std", -1.0, "init_std must be a number in"),
        ("batch_size", 0, "batch_size must be an integer from 1 to 65536"),
        ("iterations", True, "iterations must be an integer"),
        ("clip_norm", 0.0, "clip_norm must be a number > 0"),
        ("loss", "hinge", "loss must be one of mse, bce"),
        ("seed", -1, "seed must be an integer"),
        ("log_every", 0, "log_every must be an integer"),
        ("stop_at_accuracy", 1.5, r"stop_at_accuracy must be a number in \[0, 1\]"),
        ("bias", "yes", "bias must be true or false"),
        ("implementation", "textbook", "implementation must be one of fast, reference"),
        ("learning_rate", 101.0, "learning_rate"),  # the bound /docs shows, enforced here too
        ("log_every", 10**8, "log_every must be an integer from 1 to 10000000"),
    ],
)
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message):
        BinaryAdditionConfig(**{field: value})


def test_config_from_dict_names_unknown_fields():
    assert BinaryAdditionConfig.from_dict({"hidden_size": 8}).hidden_size == 8
    with pytest.raises(ValueError, match="unknown hyperparameters seq_len"):
        BinaryAdditionConfig.from_dict({"seq_len": 3})


def test_bias_false_only_for_rnn():
    with pytest.raises(ValueError, match="bias=false is only supported for cell rnn"):
        BinaryAdditionConfig(cell="lstm", bias=False)


@pytest.fixture(scope="module")
def adder():
    config = BinaryAdditionConfig()
    return BinaryAdder.from_weights(config, train(config).weights)


def test_adder_answers_37_plus_45(adder):
    total, bits, probs = adder.predict(37, 45)
    assert total == 82
    assert bits == [0, 1, 0, 1, 0, 0, 1, 0]  # 82, most significant first
    assert len(probs) == 8 and all(0 <= p <= 1 for p in probs)
    assert [int(p > 0.5) for p in probs] == bits and isinstance(probs[0], float)


def test_predict_many_gets_every_pair_right(adder):
    a, b = evaluation_pairs(8)
    sums, bits, probs = adder.predict_many(a, b)
    np.testing.assert_array_equal(sums, a + b)
    assert bits.shape == probs.shape == (16384, 8)
    np.testing.assert_array_equal(from_bits(bits[:, ::-1]), a + b)
    all_sums, all_bits, all_probs = adder.predict_all_pairs()  # the same, along the prefix tree
    np.testing.assert_array_equal(all_sums, sums)
    np.testing.assert_array_equal(all_bits, bits)
    np.testing.assert_allclose(all_probs, probs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (128, 0, "a must be an integer in 0..127 for a model with binary_dim 8"),
        (0, -1, "b must be an integer in 0..127 for a model with binary_dim 8"),
        (1.5, 2, "a must be an integer in 0..127"),
        (True, 2, "a must be an integer in 0..127"),
    ],
)
def test_predict_validates_operands(adder, a, b, message):
    with pytest.raises(ValueError, match=message):
        adder.predict(a, b)


def test_predict_many_validates_operands(adder):
    with pytest.raises(ValueError, match=r"b must be an integer in 0\.\.127"):
        adder.predict_many(np.array([1, 2]), np.array([3, 200]))
    with pytest.raises(ValueError, match="same length"):
        adder.predict_many(np.array([1, 2]), np.array([3]))


def test_from_weights_rejects_weights_of_another_model():
    weights = train(BinaryAdditionConfig(iterations=2)).weights
    with pytest.raises(ValueError, match="missing rnn1"):
        BinaryAdder.from_weights(BinaryAdditionConfig(num_layers=2), weights)
    with pytest.raises(ValueError, match=r"rnn0.Wx has shape \(2, 16\), expected \(2, 8\)"):
        BinaryAdder.from_weights(BinaryAdditionConfig(hidden_size=8), weights)
