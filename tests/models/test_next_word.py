"""Next-word model: configuration, learning, determinism, resuming, prediction and memory."""

from __future__ import annotations

import dataclasses
import math
import re
import tracemalloc

import numpy as np
import pytest

from models import next_word
from models.next_word import (
    NextWordConfig,
    NextWordModel,
    NextWordPredictor,
    min_tokens,
    train,
)
from models.text import build_dictionary, preprocess
from models.training import TrainingDiverged, TrainingHooks, TrainingStopped

SENTENCE = "the quick brown fox jumps over the lazy dog and runs away "
SMALL = dict(hidden_size=16, embedding_size=8, batch_size=4, seq_len=5, log_every=5)


def corpus(text=SENTENCE, repeat=60):
    words = preprocess(text * repeat)
    d = build_dictionary(words)
    return d.encode(words), d.size


class Recorder(TrainingHooks):
    """Records reports; saves the checkpoint of step `checkpoint_at`; stops at `stop_at`."""

    def __init__(self, checkpoint_at=None, stop_at=None):
        self.reports: list[tuple[int, dict, float]] = []
        self.checkpoints: dict[int, dict] = {}
        self.steps = 0
        self.checkpoint_at = checkpoint_at
        self.stop_at = stop_at

    def report(self, step, metrics, progress):
        self.reports.append((step, dict(metrics), progress))

    def should_stop(self):
        self.steps += 1
        return self.stop_at is not None and self.steps > self.stop_at

    def checkpoint_due(self):
        return self.checkpoint_at is not None and self.steps == self.checkpoint_at

    def save_checkpoint(self, step, state):
        self.checkpoints[step] = {k: v.copy() for k, v in state.items()}


# -- configuration -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cell", "transformer", "cell must be one of lstm, gru, rnn"),
        ("num_layers", 4, "num_layers must be an integer from 1 to 3"),
        ("num_layers", 1.5, "num_layers"),
        ("dropout", 1.0, "dropout must be a number in [0, 1)"),
        ("mode", "window", "mode must be one of bptt, chunk"),
        ("optimizer", "lbfgs", "optimizer must be one of"),
        ("init", "orthogonal", "init must be one of"),
        ("learning_rate", 0.0, "learning_rate"),
        ("clip_norm", -1.0, "clip_norm"),
        ("test_fraction", 0.0, "test_fraction"),
        ("batch_size", 0, "batch_size"),
        ("seq_len", True, "seq_len"),
        ("seed", -1, "seed"),
        ("peephole", "yes", "peephole"),
    ],
)
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        NextWordConfig(**{field: value})


def test_config_peephole_needs_lstm_and_defaults_are_valid():
    with pytest.raises(ValueError, match="peephole applies to cell 'lstm' only"):
        NextWordConfig(cell="gru", peephole=True)
    config = NextWordConfig(clip_norm=None)
    assert config.clip_norm is None
    assert [f.name for f in dataclasses.fields(NextWordConfig)] == [
        "cell", "peephole", "num_layers", "hidden_size", "embedding_size", "dropout", "init",
        "optimizer", "learning_rate", "batch_size", "seq_len", "epochs", "mode", "chunk_size",
        "clip_norm", "test_fraction", "seed", "log_every",
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["bptt", "chunk"])
def test_min_tokens_is_the_exact_threshold(mode):
    config = NextWordConfig(mode=mode, batch_size=8, seq_len=6, chunk_size=4, test_fraction=0.25)
    n = min_tokens(config)
    assert next_word._enough(config, n) and not next_word._enough(config, n - 1)
    ids = np.zeros(n - 1, dtype=np.int32)
    with pytest.raises(ValueError, match=f"need at least {n}"):
        train(config, ids, 3)
    train(dataclasses.replace(config, epochs=1), np.zeros(n, dtype=np.int32), 3)


def test_token_ids_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        train(NextWordConfig(**SMALL), np.full(500, 3, dtype=np.int32), 3)


# -- gradients through the whole model ---------------------------------------------------------
@pytest.mark.parametrize(("cell", "last"), [("lstm", 3), ("gru", 3), ("rnn", 3), ("lstm", 1)])
def test_two_layer_model_gradients(cell, last):
    """d loss / d every parameter of a 2-layer model, float64 finite differences.

    last=1 is chunk mode: the loss is taken on the last step only.
    """
    from tests.models.test_lstm_gru import assert_close, numerical_gradient

    config = NextWordConfig(cell=cell, num_layers=2, hidden_size=3, embedding_size=2)
    rng = np.random.default_rng(0)
    model = NextWordModel(config, 5, rng, dtype=np.float64)
    for p in model.params:
        p[...] = 0.5 * rng.standard_normal(p.shape)
    ids = rng.integers(0, 5, (2, 3))
    targets = rng.integers(0, 5, (2, last))

    def loss():
        return model.train_step(ids, targets, rng=None)

    loss()
    analytic = [g.copy() for g in model.grads]
    for name, p, g in zip(model.names, model.params, analytic, strict=True):
        assert_close(g, numerical_gradient(loss, p), name)


def test_weight_names_are_stable():
    config = NextWordConfig(num_layers=2, peephole=True, **SMALL)
    model = NextWordModel(config, 7, np.random.default_rng(0))
    assert model.names == [
        "embed.W", "lstm0.Wx", "lstm0.Wh", "lstm0.b", "lstm0.p",
        "lstm1.Wx", "lstm1.Wh", "lstm1.b", "lstm1.p", "out.W", "out.b",
    ]  # fmt: skip


# -- learning ----------------------------------------------------------------------------------
def test_repeated_sentence_is_learned_to_low_perplexity():
    ids, vocab = corpus()
    result = train(NextWordConfig(epochs=30, **SMALL), ids, vocab)
    assert result.metrics["test_perplexity"] < 2.0
    assert result.metrics["test_accuracy"] > 0.8
    assert result.metrics["test_perplexity"] == pytest.approx(math.exp(result.metrics["test_loss"]))
    assert set(result.metrics) == {
        "train_loss", "test_loss", "test_perplexity", "test_accuracy", "tokens_per_second"
    }  # fmt: skip
    assert all(w.dtype == np.float32 for w in result.weights.values())


def test_chunk_mode_learns_the_sentence():
    ids, vocab = corpus()
    config = NextWordConfig(mode="chunk", chunk_size=3, epochs=15, **SMALL)
    result = train(config, ids, vocab)
    assert result.metrics["test_accuracy"] > 0.8
    assert result.metrics["test_perplexity"] < 2.0


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_every_cell_trains(cell):
    ids, vocab = corpus()
    hooks = Recorder()
    train(NextWordConfig(cell=cell, epochs=4, **SMALL), ids, vocab, hooks)
    losses = [m["train_loss"] for _, m, _ in hooks.reports if "train_loss" in m]
    assert len(losses) == 4 and losses[-1] < 0.7 * losses[0]


def test_reports_and_progress():
    ids, vocab = corpus()
    hooks = Recorder()
    result = train(NextWordConfig(epochs=2, **SMALL), ids, vocab, hooks)
    epochs = [r for r in hooks.reports if "train_loss" in r[1]]
    logs = [r for r in hooks.reports if "loss" in r[1]]
    assert [p for _, _, p in epochs] == [0.5, 1.0]
    assert epochs[-1][0] == result.steps and epochs[-1][1] == result.metrics
    assert logs and all(step % 5 == 0 for step, _, _ in logs)
    progress = [p for _, _, p in hooks.reports]
    assert progress == sorted(progress) and 0 < progress[0] < 0.5
    assert list(hooks.checkpoints) == [epochs[0][0]]  # at every epoch end but the last


def test_dropout_and_two_layers_train():
    ids, vocab = corpus()
    config = NextWordConfig(num_layers=2, dropout=0.3, epochs=12, **SMALL)
    assert train(config, ids, vocab).metrics["test_accuracy"] > 0.6


# -- determinism and resuming ------------------------------------------------------------------
def test_same_seed_same_weights_other_seed_other_weights():
    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(epochs=2, dropout=0.2, **SMALL)
    a, b = train(config, ids, vocab), train(config, ids, vocab)
    c = train(dataclasses.replace(config, seed=1), ids, vocab)
    for name in a.weights:
        np.testing.assert_array_equal(a.weights[name], b.weights[name])
    assert not np.array_equal(a.weights["out.W"], c.weights["out.W"])


@pytest.mark.parametrize(
    "overrides",
    [
        dict(num_layers=2, dropout=0.2),  # stateful bptt: the carried state must be restored
        dict(mode="chunk", chunk_size=3, dropout=0.2),  # shuffled order and dropout rng
        dict(cell="gru", optimizer="momentum"),
    ],
)
@pytest.mark.parametrize("where", ["mid-epoch", "epoch-end"])
def test_resume_gives_bit_identical_weights(overrides, where):
    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(epochs=3, **{**SMALL, **overrides})
    reference_hooks = Recorder()
    reference = train(config, ids, vocab, reference_hooks)
    steps_per_epoch = reference.steps // 3
    assert steps_per_epoch > 8
    stop_step = steps_per_epoch + 7 if where == "mid-epoch" else steps_per_epoch

    hooks = Recorder(checkpoint_at=stop_step, stop_at=stop_step)
    with pytest.raises(TrainingStopped):
        train(config, ids, vocab, hooks)
    state = hooks.checkpoints[max(hooks.checkpoints)]
    resumed_hooks = Recorder()
    resumed = train(config, ids, vocab, resumed_hooks, resume=state)
    assert resumed.steps == reference.steps
    for name in reference.weights:
        np.testing.assert_array_equal(resumed.weights[name], reference.weights[name], name)
    assert resumed.metrics["train_loss"] == reference.metrics["train_loss"]
    assert resumed.metrics["test_loss"] == reference.metrics["test_loss"]
    epoch_reports = [r[:2] for r in reference_hooks.reports if "test_loss" in r[1]]
    resumed_reports = [r[:2] for r in resumed_hooks.reports if "test_loss" in r[1]]
    assert [s for s, _ in resumed_reports] == [s for s, _ in epoch_reports][-len(resumed_reports) :]


def test_stop_and_divergence():
    ids, vocab = corpus(repeat=20)
    with pytest.raises(TrainingStopped):
        train(NextWordConfig(**SMALL), ids, vocab, Recorder(stop_at=2))


def test_nan_loss_raises_a_readable_error(monkeypatch):
    ids, vocab = corpus(repeat=20)
    monkeypatch.setattr(NextWordModel, "train_step", lambda self, x, y, rng: float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became NaN at step 1: lower the learning"):
        train(NextWordConfig(**SMALL), ids, vocab)


# -- prediction --------------------------------------------------------------------------------
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
    # and it is the model's own forward pass over that context
    model.reset_state()
    logits = model.out.last_step_logits(model.hidden(np.array([contexts[3]]))[:, -1])[0]
    np.testing.assert_allclose(alone[3], logits, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one k per context"):
        predictor.most_likely_many(contexts, [1])
    with pytest.raises(ValueError, match="no context"):
        predictor.next_logits([])
    with pytest.raises(ValueError, match="empty"):
        predictor.most_likely_many([contexts[0], []], [1, 1])


def test_contexts_are_batched_with_others_of_similar_length():
    short = next_word.SHORT_CONTEXT_WORDS
    lengths = [1, 200, short, short + 1, 2 * short, 2 * short + 1, 3, 130]
    assert next_word.length_groups(lengths) == [[0, 2, 6], [1, 7], [3, 4], [5]]
    assert next_word.length_groups([]) == []


@pytest.mark.parametrize("k", [1, 3, next_word.ARGMAX_ROUNDS_MAX_K, 17, 40])
def test_top_k_indices_rank_like_a_stable_sort(k):
    rng = np.random.default_rng(k)
    values = rng.integers(0, 12, 40).astype(np.float32)  # many ties
    values[7] = np.float32(3e38)  # near float32's max: still above the -inf of the taken ones
    expected = np.argsort(-values, kind="stable")[:k]
    np.testing.assert_array_equal(next_word.top_k_indices(values, k), expected)


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


# -- memory ------------------------------------------------------------------------------------
def test_big_corpus_never_allocates_tokens_times_vocabulary():
    tokens, vocab = 1_000_000, 5000
    ids = np.random.default_rng(0).integers(0, vocab, tokens, dtype=np.int32)
    config = NextWordConfig(batch_size=64, seq_len=20, hidden_size=32, embedding_size=16)
    tracemalloc.start()
    try:
        with pytest.raises(TrainingStopped):
            train(config, ids, vocab, Recorder(stop_at=3))
        _, peak = tracemalloc.get_traced_memory()
        print(f"peak traced memory {peak / 2**20:.1f} MiB")
    finally:
        tracemalloc.stop()
    # tokens x vocab x 4 bytes would be 20 GB; one window's logits block plus the
    # parameters and optimizer state are a few MB.
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_training_is_bit_identical_on_one_or_two_threads():
    """RNNLAB_TRAIN_THREADS changes the speed, never the weights (fixed shards, fixed sum order)."""
    from models import parallel

    ids, vocab = corpus(repeat=20)
    config = NextWordConfig(epochs=2, **SMALL)
    old = parallel.TRAIN_THREADS
    try:
        parallel.set_train_threads(1)
        one = train(config, ids, vocab)
        parallel.set_train_threads(2)
        two = train(config, ids, vocab)
    finally:
        parallel.set_train_threads(old)
    for name in one.weights:
        np.testing.assert_array_equal(one.weights[name], two.weights[name], name)
    assert one.metrics["test_loss"] == two.metrics["test_loss"]


def test_min_tokens_is_immediate_even_for_a_vanishing_test_fraction() -> None:
    # It once searched upwards from the training bound: effectively forever for 5e-324.
    import sys
    import time

    from models.next_word import NextWordConfig, min_tokens

    started = time.perf_counter()
    assert min_tokens(NextWordConfig(test_fraction=5e-324)) == sys.maxsize
    assert min_tokens(NextWordConfig(test_fraction=1e-9)) == 21_000_000_000
    assert time.perf_counter() - started < 1.0


def test_a_vanishing_temperature_samples_greedily() -> None:
    # Dividing the raw logits by 5e-324 made them +-inf and the probabilities NaN.
    from models.next_word import _sample

    logits = np.array([1.0, 3.0, 2.0], dtype=np.float32)
    rng = np.random.default_rng(0)
    assert [_sample(logits, 5e-324, None, rng, ()) for _ in range(5)] == [1] * 5
    assert _sample(logits, 5e-324, None, rng, (1,)) == 2
