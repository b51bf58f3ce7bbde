"""Next word: configuration bounds, the token windows and the whole model's gradients."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from rnnlab.models.tasks.next_word import NextWordConfig, min_tokens
from rnnlab.models.tasks.next_word.data import enough_tokens
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.train import train
from tests.models.gradcheck import assert_gradient_close, numerical_gradient
from tests.models.tasks.next_word.helpers import SMALL


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cell", "transformer", "cell must be one of rnn, lstm, gru"),
        ("num_layers", 4, "num_layers must be an integer from 1 to 3"),
        ("num_layers", 1.5, "num_layers"),
        ("dropout", 1.0, "dropout must be a number in [0, 1)"),
        ("recurrent_dropout", 1.0, "recurrent_dropout must be a number in [0, 1)"),
        ("recurrent_dropout", -0.1, "recurrent_dropout must be a number in [0, 1)"),
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
        ("test_fraction", 0.001, "test_fraction must be a number in [0.01, 0.9]"),
        ("epochs", 100_001, "epochs must be an integer from 1 to 100000"),
        ("learning_rate", 11.0, "learning_rate must be a number in (0, 10]"),
        ("implementation", "textbook", "implementation must be one of fast, reference"),
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
        "cell", "peephole", "num_layers", "hidden_size", "embedding_size", "tie_weights",
        "dropout", "recurrent_dropout", "init", "optimizer", "learning_rate", "lr_schedule",
        "lr_factor", "lr_step_every", "lr_patience", "lr_min", "lr_warmup", "batch_size",
        "seq_len", "epochs", "mode", "chunk_size", "clip_norm", "test_fraction",
        "validation_fraction", "validation_every", "early_stopping", "restore_best", "seed",
        "log_every", "teaching_views", "gradient_norms_every", "implementation",
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["bptt", "chunk"])
def test_min_tokens_is_the_exact_threshold(mode):
    config = NextWordConfig(mode=mode, batch_size=8, seq_len=6, chunk_size=4, test_fraction=0.25)
    n = min_tokens(config)
    assert enough_tokens(config, n) and not enough_tokens(config, n - 1)
    ids = np.zeros(n - 1, dtype=np.int32)
    with pytest.raises(ValueError, match=f"need at least {n}"):
        train(config, ids, 3)
    train(dataclasses.replace(config, epochs=1), np.zeros(n, dtype=np.int32), 3)


def test_token_ids_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        train(NextWordConfig(**SMALL), np.full(500, 3, dtype=np.int32), 3)


@pytest.mark.parametrize("dropout", [0.0, 0.5], ids=["", "dropout"])
@pytest.mark.parametrize("implementation", ["fast", "reference"])
@pytest.mark.parametrize(("cell", "last"), [("lstm", 3), ("gru", 3), ("rnn", 3), ("lstm", 1)])
def test_two_layer_model_gradients(cell, last, implementation, dropout):
    """d loss / d every parameter of a 2-layer model, float64 finite differences.

    last=1 is chunk mode: the loss is taken on the last step only. With dropout, every pass
    draws its masks from a generator of the same seed: the same masks, fixed.
    """
    config = NextWordConfig(
        cell=cell,
        num_layers=2,
        hidden_size=3,
        embedding_size=2,
        implementation=implementation,
        dropout=dropout,
        recurrent_dropout=dropout,
    )
    rng = np.random.default_rng(0)
    model = NextWordModel(config, 5, rng, dtype=np.float64)
    for p in model.params:
        p[...] = 0.5 * rng.standard_normal(p.shape)
    ids = rng.integers(0, 5, (2, 3))
    targets = rng.integers(0, 5, (2, last))

    def loss():
        return model.train_step(ids, targets, rng=np.random.default_rng(7) if dropout else None)

    loss()
    analytic = [g.copy() for g in model.grads]
    for name, p, g in zip(model.names, model.params, analytic, strict=True):
        assert_gradient_close(g, numerical_gradient(loss, p), name, tol=1e-5)


def test_weight_names_are_stable():
    config = NextWordConfig(num_layers=2, peephole=True, **SMALL)
    model = NextWordModel(config, 7, np.random.default_rng(0))
    assert model.names == [
        "embed.W", "lstm0.Wx", "lstm0.Wh", "lstm0.b", "lstm0.p",
        "lstm1.Wx", "lstm1.Wh", "lstm1.b", "lstm1.p", "out.W", "out.b",
    ]  # fmt: skip
