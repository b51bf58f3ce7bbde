"""Next-word prediction over a corpus dictionary (notes, s.4): config, data, model, train,
checkpoint, predict, serving, export, sampling, memory; ``TASK`` is its registry entry.

The name `train` stays the submodule (rnnlab.models.tasks.next_word.train): the function is
reached as rnnlab.models.tasks.next_word.train.train, or through TASK.train.
"""

from __future__ import annotations

from typing import Any

from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.data import min_tokens
from rnnlab.models.tasks.next_word.export import export_graph
from rnnlab.models.tasks.next_word.memory import memory_bytes
from rnnlab.models.tasks.next_word.predict import NextWordPredictor
from rnnlab.models.tasks.next_word.serving import SERVING
from rnnlab.models.tasks.next_word.train import (
    FINAL_METRIC_NAMES,
    HIGHER_IS_BETTER,
    METRIC_NAMES,
)
from rnnlab.models.tasks.next_word.train import train as run_training
from rnnlab.models.tasks.task import Corpus, Task


def _corpus(corpus: Corpus | None) -> Corpus:
    if corpus is None:
        raise ValueError("a next-word task needs a corpus")
    return corpus


def _train(
    config: NextWordConfig, corpus: Corpus | None, hooks: Any, resume: Any, start: Any = None
) -> Any:
    c = _corpus(corpus)
    return run_training(config, c.token_ids, c.vocabulary_size, hooks, resume, c.words, start)  # type: ignore[arg-type]


def _step_tokens(config: NextWordConfig) -> int:
    """A step reads batch_size windows of seq_len (bptt) or chunk_size words."""
    return config.batch_size * config.window


TASK = Task(
    name="next_word",
    config_class=NextWordConfig,
    train=_train,
    predictor=lambda config, weights, corpus: NextWordPredictor.from_weights(
        config, weights, _corpus(corpus).vocabulary_size
    ),
    memory_bytes=lambda config, corpus: memory_bytes(
        config, _corpus(corpus).tokens, _corpus(corpus).vocabulary_size
    ),
    metric_names=METRIC_NAMES,
    final_metric_names=FINAL_METRIC_NAMES,
    ranked_metrics=("test_perplexity", "test_loss", "test_accuracy", "train_loss"),
    curve_metrics=(
        "validation_loss",
        "loss",
        "train_loss",
        "validation_perplexity",
        "validation_accuracy",
    ),
    higher_is_better_metrics=HIGHER_IS_BETTER,
    needs_corpus=True,
    shape_params=("cell", "peephole", "num_layers", "hidden_size", "embedding_size", "tie_weights"),
    optimizer_params=("optimizer",),
    min_tokens=min_tokens,
    step_tokens=_step_tokens,
    summary="An LSTM language model over a corpus (the demo corpus by default).",
    serving=SERVING,
    export_graph=export_graph,
)

__all__ = ["TASK", "NextWordConfig", "NextWordPredictor", "memory_bytes", "min_tokens"]
