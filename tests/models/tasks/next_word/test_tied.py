"""Next word's tied weights (``tie_weights``): the output layer's W_out is the embedding matrix
transposed, one matrix whose gradient is the sum of the two layers' shares; stored once,
trained the same by both implementations, served and resumed as any model."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from rnnlab.models.tasks.next_word import TASK, NextWordConfig, NextWordPredictor, memory_bytes
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.train import train
from tests.models.gradcheck import assert_gradient_close, numerical_gradient
from tests.models.tasks.next_word.helpers import SMALL, Recorder, corpus

TIED = {**SMALL, "embedding_size": SMALL["hidden_size"], "tie_weights": True}


def test_embedding_size_must_equal_hidden_size():
    message = (
        "embedding_size (8) must equal the last recurrent layer's hidden_size (16): set both "
        "to one size, or tie_weights to false"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        NextWordConfig(hidden_size=16, embedding_size=8, tie_weights=True)
    NextWordConfig(hidden_size=16, embedding_size=8)  # untied, any sizes
    assert "tie_weights" in TASK.shape_params  # a continued model keeps its (un)tied shapes


@pytest.mark.parametrize("implementation", ["reference", "fast"])
def test_the_output_layer_uses_the_embedding_matrix_stored_once(implementation):
    config = NextWordConfig(implementation=implementation, **TIED)
    model = NextWordModel(config, 9, np.random.default_rng(0))
    assert model.out.params[0].shape == (16, 9)
    assert np.shares_memory(model.out.params[0], model.embed.params[0])
    np.testing.assert_array_equal(model.out.params[0], model.embed.params[0].T)
    assert "out.W" not in model.names and model.weights().keys() == set(model.names)
    assert sum(p is model.embed.params[0] for p in model.params) == 1


def test_the_shared_matrix_starts_with_logits_of_unit_scale():
    """Drawn with std 1 / sqrt(E) (an untied embedding's is 1): the first loss is near a
    uniform guess's ln V, not tens of nats."""
    vocabulary = 2000
    config = NextWordConfig(hidden_size=64, embedding_size=64, tie_weights=True)
    model = NextWordModel(config, vocabulary, np.random.default_rng(0))
    assert model.embed.params[0].std() == pytest.approx(1 / 8, rel=0.02)
    ids = np.random.default_rng(1).integers(0, vocabulary, (8, 10))
    targets = np.random.default_rng(2).integers(0, vocabulary, (8, 10))
    assert model.evaluate_batch(ids, targets)[0] / targets.size < 1.1 * np.log(vocabulary)
    untied = NextWordModel(
        dataclasses.replace(config, tie_weights=False), 9, np.random.default_rng(0)
    )
    assert untied.embed.params[0].std() == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("implementation", ["reference", "fast"])
def test_the_shared_gradient_is_the_sum_of_both_layers_shares(implementation):
    """The tied model's dE equals an untied model's embedding gradient plus its output
    gradient transposed, the untied model holding the same matrix in both places."""
    tied = NextWordConfig(implementation=implementation, **TIED)
    untied = dataclasses.replace(tied, tie_weights=False)
    a = NextWordModel(tied, 9, np.random.default_rng(0), dtype=np.float64)
    b = NextWordModel(untied, 9, np.random.default_rng(0), dtype=np.float64)
    b.load_weights({**a.weights(), "out.W": a.embed.params[0].T})
    ids = np.random.default_rng(1).integers(0, 9, (4, 5))
    targets = np.random.default_rng(2).integers(0, 9, (4, 5))
    assert a.train_step(ids, targets, None) == pytest.approx(b.train_step(ids, targets, None))
    grads_b = dict(zip(b.names, b.grads, strict=True))
    np.testing.assert_allclose(
        dict(zip(a.names, a.grads, strict=True))["embed.W"],
        grads_b["embed.W"] + grads_b["out.W"].T,
        rtol=1e-10,
    )


@pytest.mark.parametrize("implementation", ["fast", "reference"])
@pytest.mark.parametrize(("cell", "last"), [("lstm", 3), ("gru", 3), ("rnn", 1)])
def test_tied_model_gradients(cell, last, implementation):
    """d loss / d every parameter of a tied 2-layer model, float64 finite differences: a change
    of the embedding matrix moves both the inputs and the output logits."""
    config = NextWordConfig(
        cell=cell,
        num_layers=2,
        hidden_size=3,
        embedding_size=3,
        tie_weights=True,
        implementation=implementation,
        dropout=0.5,
    )
    rng = np.random.default_rng(0)
    model = NextWordModel(config, 5, rng, dtype=np.float64)
    for p in model.params:
        p[...] = 0.5 * rng.standard_normal(p.shape)
    ids = rng.integers(0, 5, (2, 3))
    targets = rng.integers(0, 5, (2, last))

    def loss():
        return model.train_step(ids, targets, rng=np.random.default_rng(7))

    loss()
    analytic = [g.copy() for g in model.grads]
    for name, p, g in zip(model.names, model.params, analytic, strict=True):
        assert_gradient_close(g, numerical_gradient(loss, p), name, tol=1e-5)


def test_reference_and_fast_train_the_same_tied_curve():
    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(epochs=2, dropout=0.1, **{**TIED, "log_every": 1})
    fast_hooks, reference_hooks = Recorder(), Recorder()
    fast = train(config, ids, vocab, fast_hooks)
    textbook = dataclasses.replace(config, implementation="reference")
    reference = train(textbook, ids, vocab, reference_hooks)
    fast_losses = [m["loss"] for _, m, _ in fast_hooks.reports if "loss" in m]
    reference_losses = [m["loss"] for _, m, _ in reference_hooks.reports if "loss" in m]
    assert len(fast_losses) == len(reference_losses) > 10
    np.testing.assert_allclose(reference_losses, fast_losses, rtol=1e-4)
    assert reference.weights.keys() == fast.weights.keys()
    assert "out.W" not in fast.weights
    for name, w in fast.weights.items():
        np.testing.assert_allclose(reference.weights[name], w, rtol=1e-3, atol=1e-5, err_msg=name)


def test_a_tied_model_learns_loads_and_serves():
    ids, vocab = corpus(repeat=30)
    config = NextWordConfig(epochs=8, learning_rate=0.02, **TIED)
    result = train(config, ids, vocab)
    assert result.metrics["test_perplexity"] < 2.0
    predictor = NextWordPredictor.from_weights(config, result.weights, vocab)
    # what the predictor answers is the trained model's output, through the shared matrix
    model = NextWordModel(config, vocab, np.random.default_rng(0))
    model.load_weights(result.weights)
    context = np.asarray(ids[:6])
    expected = model.out.last_step_logits(model.hidden(context[None])[:, -1])[0]
    np.testing.assert_allclose(predictor.next_logits([context])[0], expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"missing embed\.W"):
        NextWordPredictor.from_weights(config, {"out.b": result.weights["out.b"]}, vocab)


def test_memory_estimate_counts_the_shared_matrix_once():
    vocabulary, tokens = 10**4, 10**6
    untied = NextWordConfig(hidden_size=256, embedding_size=256)
    tied = dataclasses.replace(untied, tie_weights=True)
    saved = memory_bytes(untied, tokens, vocabulary) - memory_bytes(tied, tokens, vocabulary)
    # five copies of a (256, V) matrix (weights, gradient, Adam's two moments, the best weights
    # kept) less the output layer's own gradient, which tied weights still fill
    assert saved == 4 * 4 * vocabulary * 256
