"""The two tasks, seen from the service: how a job's stored hyperparameters become a numpy
config, and how a job trains. The numpy side lives in models/ and knows nothing of this."""

from __future__ import annotations

import dataclasses
from typing import Any

from numpy.typing import NDArray

from models import binary_addition, next_word
from models.training import TrainingHooks, TrainResult
from service.corpora import load_token_ids
from service.db import Database

BINARY_ADDITION = "binary_addition"
NEXT_WORD = "next_word"
CONFIG_CLASSES: dict[str, type] = {
    BINARY_ADDITION: binary_addition.BinaryAdditionConfig,
    NEXT_WORD: next_word.NextWordConfig,
}


def make_config(task: str, hyperparams: dict[str, Any]) -> Any:
    """The numpy config of a task from stored hyperparameters (service-only keys dropped)."""
    config_class = CONFIG_CLASSES[task]
    names = {field.name for field in dataclasses.fields(config_class)}
    return config_class(**{key: value for key, value in hyperparams.items() if key in names})


def train(
    db: Database,
    task: str,
    hyperparams: dict[str, Any],
    hooks: TrainingHooks,
    resume: dict[str, NDArray] | None,
) -> TrainResult:
    config = make_config(task, hyperparams)
    if task == BINARY_ADDITION:
        return binary_addition.train(config, hooks=hooks, resume=resume)
    with db.read() as session:
        token_ids, vocabulary_size = load_token_ids(session, hyperparams["corpus_id"])
    return next_word.train(config, token_ids, vocabulary_size, hooks=hooks, resume=resume)
