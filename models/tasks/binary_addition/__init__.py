"""Binary addition with a recurrent network (notes, s.1): config, data, model, evaluate, train,
predict, serving, export, memory; ``TASK`` is its registry entry."""

from __future__ import annotations

from rnnlab.models.tasks.binary_addition.config import VALIDATION_METRICS, BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.export import export_graph
from rnnlab.models.tasks.binary_addition.memory import memory_bytes
from rnnlab.models.tasks.binary_addition.predict import BinaryAdder
from rnnlab.models.tasks.binary_addition.serving import SERVING
from rnnlab.models.tasks.binary_addition.train import (
    FINAL_METRIC_NAMES,
    HIGHER_IS_BETTER,
    METRIC_NAMES,
)
from rnnlab.models.tasks.binary_addition.train import train as run_training

# The name `train` stays the submodule (rnnlab.models.tasks.binary_addition.train): the function is
# reached as rnnlab.models.tasks.binary_addition.train.train, or through TASK.train.
from rnnlab.models.tasks.task import Task

TASK = Task(
    name="binary_addition",
    config_class=BinaryAdditionConfig,
    train=lambda config, corpus, hooks, resume, start=None: run_training(
        config, hooks, resume, start
    ),
    predictor=lambda config, weights, corpus: BinaryAdder.from_weights(config, weights),
    memory_bytes=lambda config, corpus: memory_bytes(config),
    metric_names=METRIC_NAMES,
    final_metric_names=FINAL_METRIC_NAMES,
    ranked_metrics=(
        "final_loss",
        "final_accuracy",
        "final_bit_accuracy",
        "steps",
        "test_loss",
        "test_accuracy",
        "test_bit_accuracy",
    ),
    curve_metrics=(
        "loss",
        "accuracy",
        "test_loss",
        "test_accuracy",
        "test_bit_accuracy",
        *VALIDATION_METRICS,
    ),
    higher_is_better_metrics=HIGHER_IS_BETTER,
    shape_params=("cell", "num_layers", "hidden_size", "bias"),
    optimizer_params=("optimizer",),
    summary="An RNN learns to add two integers bit by bit.",
    serving=SERVING,
    export_graph=export_graph,
)

__all__ = ["TASK", "BinaryAdder", "BinaryAdditionConfig", "memory_bytes"]
