"""The metrics a sweep compares, which way is better, and how a run ended."""

from __future__ import annotations

import re

from rnnlab.service.errors import InvalidInput
from rnnlab.service.jobs.early_stop import EARLY_STOPPED

# Final metrics of a model (TrainResult.metrics), by task: what a sweep ranks its cells by.
FINAL_METRICS = {
    "binary_addition": ("final_loss", "final_accuracy", "final_bit_accuracy", "steps"),
    "next_word": ("test_perplexity", "test_loss", "test_accuracy", "train_loss"),
}
DEFAULT_METRIC = {"binary_addition": "final_loss", "next_word": "test_perplexity"}
# Metrics logged along the steps: what the plot draws and early stopping watches.
STEP_METRICS = {
    "binary_addition": ("loss", "accuracy"),
    "next_word": ("loss", "train_loss", "test_loss", "test_perplexity", "test_accuracy"),
}
DEFAULT_STEP_METRIC = {"binary_addition": "loss", "next_word": "test_loss"}

# The messages of rnnlab.models.training.TrainingDiverged (check_finite, and overflow in a step).
DIVERGED = re.compile(r"^(loss became (NaN|infinite)|numbers overflowed)")


def higher_is_better(metric: str) -> bool:
    return "accuracy" in metric


def is_diverged(error: str | None) -> bool:
    return error is not None and DIVERGED.match(error) is not None


def is_early_stopped(error: str | None) -> bool:
    return error is not None and error.startswith(EARLY_STOPPED)


def check_final_metric(task: str, metric: str) -> str:
    if metric not in FINAL_METRICS[task]:
        raise InvalidInput(
            f"unknown metric {metric!r} for {task}: use one of {', '.join(FINAL_METRICS[task])}"
        )
    return metric


def check_step_metric(task: str, metric: str) -> str:
    if metric not in STEP_METRICS[task]:
        raise InvalidInput(
            f"unknown metric {metric!r} for {task}'s curves: use one of "
            f"{', '.join(STEP_METRICS[task])}"
        )
    return metric
