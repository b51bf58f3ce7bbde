"""Next word: prediction, batched answers and generation from saved weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnnlab.models.tasks.next_word import NextWordConfig, NextWordPredictor
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.sampling import sample
from rnnlab.models.tasks.next_word.train import train
from rnnlab.models.text import build_dictionary, preprocess
from tests.models.tasks.next_word.helpers import SENTENCE, SMALL, corpus


@pytest.fixture(scope="module")
def trained():
    ids, vocab = corpus()
    config = NextWordConfig(epochs=30, **SMALL)
    result = train(config, ids, vocab)
    words = preprocess(SENTENCE * 60)
    return config, result, build_dictionary(words), vocab


def test_predictor_predicts_the_next_word(trained):
    config, result, d, vocab = trained
    predictor = NextWordPredictor.from_weights(config, result.weights, vocab)
    probs = predictor.next_distribution(d.encode(preprocess("jumps over the lazy")))
    assert probs.shape == (vocab,)
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert d.words[int(probs.argmax())] == "dog"
    # same as the training model's forward pass over the same context
    model = NextWordModel(config, vocab, np.random.default_rng(5))
    model.load_weights(result.weights)
    ctx = d.encode(preprocess("the quick brown"))
    logits = model.out.last_step_logits(model.hidden(ctx[None])[:, -1])[0]
    expected = np.exp(logits - logits.max())
    np.testing.assert_allclose(
        predictor.next_distribution(ctx), expected / expected.sum(), rtol=1e-5, atol=1e-7
    )


def test_most_likely_is_the_top_of_the_distribution(trained):
    config, result, d, vocab = trained
    predictor = NextWordPredictor.from_weights(config, result.weights, vocab)
    ctx = d.encode(preprocess("over the"))
    probs = predictor.next_distribution(ctx)
    ranked = np.argsort(-probs, kind="stable")
    for k in (1, 5, vocab):  # the argmax rounds and the partition
        top, top_probs = predictor.most_likely(ctx, k)
        np.testing.assert_array_equal(top, ranked[:k])
        np.testing.assert_array_equal(top_probs, probs[top])
    with pytest.raises(ValueError, match="k must be from 1"):
        predictor.most_likely(ctx, vocab + 1)


@pytest.mark.parametrize("overrides", [{}, {"num_layers": 2, "peephole": True}, {"cell": "gru"}])
def test_a_batched_prediction_is_the_one_alone(overrides):
    """Each row of a batch gets its context's numbers alone, whatever its neighbours, to float32
    rounding (BLAS sums a row's products in an order that depends on its place in the batch):
    a server may batch concurrent requests without changing anyone's answer beyond that. The
    LSTM stops each row after its own length; other cells compute the padding steps."""
    vocab = 300
    config = NextWordConfig(embedding_size=16, hidden_size=64, **overrides)
    model = NextWordModel(config, vocab, np.random.default_rng(4))
    weights = model.weights()
    predictor = NextWordPredictor.from_weights(config, weights, vocab)
    rng = np.random.default_rng(5)
    contexts = [rng.integers(0, vocab, n).tolist() for n in (1, 4, 2, 7)]
    alone = [predictor.next_logits([c])[0] for c in contexts]
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 1, 1], [0, 1, 2, 3, 0, 1, 2, 3]):
        logits = predictor.next_logits([contexts[i] for i in order])
        for i, row in zip(order, logits, strict=True):
            np.testing.assert_allclose(row, alone[i], rtol=1e-5, atol=1e-6)
            assert not np.array_equal(row, alone[(i + 1) % len(contexts)])
    ks = [1, 3, 5, vocab]
    for context, k, (top, probs) in zip(
        contexts, ks, predictor.most_likely_many(contexts, ks), strict=True
    ):
        expected_top, expected_probs = predictor.most_likely(context, k)
        np.testing.assert_array_equal(top, expected_top)
        np.testing.assert_allclose(probs, expected_probs, rtol=1e-5)
    # and it is the textbook model's forward pass over that context
    textbook = dataclasses.replace(config, implementation="reference")
    model = NextWordModel(textbook, vocab, np.random.default_rng(0))
    model.load_weights(weights)
    logits = model.out.last_step_logits(model.hidden(np.array([contexts[3]]))[:, -1])[0]
    np.testing.assert_allclose(alone[3], logits, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one k per context"):
        predictor.most_likely_many(contexts, [1])
    with pytest.raises(ValueError, match="no context"):
        predictor.next_logits([])
    with pytest.raises(ValueError, match="empty"):
        predictor.most_likely_many([contexts[0], []], [1, 1])


def test_generate_is_deterministic_for_a_seed(trained):
    config, result, d, vocab = trained
    predictor = NextWordPredictor.from_weights(config, result.weights, vocab)
    ctx = d.encode(["the", "quick"])
    a = predictor.generate(ctx, 12, 1.0, None, np.random.default_rng(3))
    b = predictor.generate(ctx, 12, 1.0, None, np.random.default_rng(3))
    assert a == b and len(a) == 12
    greedy = predictor.generate(ctx, 6, 0.0, None, np.random.default_rng(0))
    assert d.decode(greedy) == ["brown", "fox", "jumps", "over", "the", "lazy"]
    top1 = predictor.generate(ctx, 6, 2.0, 1, np.random.default_rng(9))
    assert top1 == greedy
    banned = predictor.generate(ctx, 20, 5.0, None, np.random.default_rng(1), banned=[0, 1])
    assert not {0, 1} & set(banned)


def test_predictor_rejects_bad_input(trained):
    config, result, _, vocab = trained
    predictor = NextWordPredictor.from_weights(config, result.weights, vocab)
    with pytest.raises(ValueError, match="empty"):
        predictor.next_distribution([])
    with pytest.raises(ValueError, match="word ids"):
        predictor.next_distribution([vocab])
    with pytest.raises(ValueError, match="top_k"):
        predictor.generate([1], 3, 1.0, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="missing"):
        NextWordPredictor.from_weights(
            dataclasses.replace(config, num_layers=2), result.weights, vocab
        )


@pytest.mark.parametrize("overrides", [{}, {"num_layers": 2, "peephole": True}, {"cell": "gru"}])
def test_generations_on_own_state_interleave_with_predictions_unchanged(overrides):
    """A `with_own_state()` copy shares the weights and nothing it writes: word by word, two
    generations and a prediction interleaved give what each gives alone (as a server's
    threads interleave them)."""
    vocab = 200
    config = NextWordConfig(embedding_size=8, hidden_size=32, **overrides)
    weights = NextWordModel(config, vocab, np.random.default_rng(2)).weights()
    predictor = NextWordPredictor.from_weights(config, weights, vocab)
    contexts = [[5, 9, 3], [7]]
    alone = [
        predictor.generate(c, 15, 1.0, None, np.random.default_rng(i))
        for i, c in enumerate(contexts)
    ]
    expected_top = predictor.most_likely([1, 2, 3], 5)[0]
    twins = [predictor.with_own_state() for _ in contexts]
    assert all(t.model is predictor.model for t in twins)  # no copy of the weights
    logits = [t._feed(np.asarray(c)) for t, c in zip(twins, contexts, strict=True)]
    rngs = [np.random.default_rng(i) for i in range(len(contexts))]
    words: list[list[int]] = [[], []]
    for _ in range(15):
        for i, twin in enumerate(twins):
            words[i].append(sample(logits[i], 1.0, None, rngs[i], ()))
            np.testing.assert_array_equal(predictor.most_likely([1, 2, 3], 5)[0], expected_top)
            logits[i] = twin._feed(np.array([words[i][-1]]))
    assert words == alone
