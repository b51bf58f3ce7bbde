"""Example answers that /docs and /redoc show: each copied from a real run of the default jobs
(`POST /train` of each task, then the queries of the quick start), so a reader sees what comes
back, not "string". The error answers are in error_examples.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict
from pydantic.config import JsonDict

BINARY_ADDITION_HYPERPARAMS: JsonDict = {
    "binary_dim": 8,
    "hidden_size": 16,
    "cell": "rnn",
    "num_layers": 1,
    "activation": "tanh",
    "init": "xavier",
    "init_std": 1.0,
    "optimizer": "adam",
    "learning_rate": 0.05,
    "lr_schedule": "constant",
    "lr_factor": 0.25,
    "lr_step_every": 1000,
    "lr_patience": 4,
    "lr_min": 0.0,
    "lr_warmup": 0,
    "batch_size": 64,
    "iterations": 2000,
    "train_samples": 0,
    "epochs": 5,
    "clip_norm": None,
    "loss": "bce",
    "seed": 0,
    "log_every": 10,
    "stop_at_accuracy": 1.0,
    "bias": True,
    "dropout": 0.0,
    "recurrent_dropout": 0.0,
    "early_stopping": None,
    "validation_samples": 1024,
    "validation_every": 100,
    "restore_best": True,
    "teaching_views": True,
    "gradient_norms_every": 100,
    "implementation": "fast",
}

# The API's description on /docs: the three requests of a first visit.
API_DESCRIPTION = """Train classic recurrent networks written from scratch in numpy, as background
jobs, and serve predictions from their saved weights.

1. `POST /train` with `{"task": "binary_addition", "hyperparams": {}}` (or `next_word`)
2. poll `GET /jobs/{id}` until `status` is `succeeded`
3. `GET /predict?a=37&b=45` or `GET /predict?text=the children&k=5`
"""

# The study notes' binary-addition run, by hand (batch 1, SGD 0.1, MSE, no biases): POST /train
# shows it once as the notes ran it, POST /sweeps over the notes' four init x activation pairs
# and five seeds. docs/notes_table.py posts the sweep as /openapi.json shows it.
NOTES_HYPERPARAMS: JsonDict = {
    "batch_size": 1,
    "optimizer": "sgd",
    "learning_rate": 0.1,
    "iterations": 10000,
    "loss": "mse",
    "bias": False,
}
NOTES_RUN: JsonDict = {
    "task": "binary_addition",
    "name": "notes-original",
    "tags": ["notes"],
    "hyperparams": {
        **NOTES_HYPERPARAMS,
        "activation": "sigmoid",
        "init": "normal",
        "init_std": 1.0,
    },
}
NOTES_SWEEP: JsonDict = {
    "task": "binary_addition",
    "name": "notes-init-activation",
    "tags": ["notes"],
    "hyperparams": {**NOTES_HYPERPARAMS, "hidden_size": 16},
    "cells": [
        {"init": "normal", "activation": "sigmoid"},
        {"init": "xavier", "activation": "sigmoid"},
        {"init": "xavier", "activation": "tanh"},
        {"init": "he", "activation": "relu"},
    ],
    "seeds": [0, 1, 2, 3, 4],
    "metric": "steps",
}

# The bodies /docs offers to try, by name: POST /train and POST /sweeps.
TRAIN_REQUESTS: dict[str, Any] = {
    "binary_addition": {
        "summary": "Binary addition with the defaults",
        "value": {"task": "binary_addition", "hyperparams": BINARY_ADDITION_HYPERPARAMS},
    },
    "next_word": {
        "summary": "Next word on the demo corpus with the defaults",
        "value": {"task": "next_word", "hyperparams": {}},
    },
    "notes": {
        "summary": "The study notes' binary-addition run (batch 1, SGD, sigmoid)",
        "value": NOTES_RUN,
    },
}
SWEEP_REQUESTS: dict[str, Any] = {
    "notes": {
        "summary": "The notes' init x activation table (SEEDS.md section 1), five seeds",
        "value": NOTES_SWEEP,
    },
    "grid": {
        "summary": "A product grid with early stopping",
        "value": {
            "task": "binary_addition",
            "grid": {"hidden_size": [8, 16], "learning_rate": [0.01, 0.05]},
            "seeds": [0, 1, 2],
            "early_stopping": {"metric": "loss", "min_progress": 0.25, "min_peers": 3},
        },
    },
}

JOB: JsonDict = {
    "id": 1,
    "task": "binary_addition",
    "status": "succeeded",
    "progress": 1.0,
    "hyperparams": BINARY_ADDITION_HYPERPARAMS,
    "error": None,
    "attempt": 1,
    "cancel_requested": False,
    "worker": None,
    "checkpoint_step": None,
    "corpus_id": None,
    "model_id": 1,
    "created_at": "2026-12-02T12:27:26.009610Z",
    "started_at": "2026-12-02T12:27:26.451947Z",
    "finished_at": "2026-12-02T12:27:26.541267Z",
    "elapsed_seconds": 0.09,
    "eta_seconds": 0.0,
    "name": "baseline",
    "tags": ["exp-1"],
    "sweep_id": None,
    "heartbeat_at": None,
    "status_detail": None,
    "parent_model_id": None,
    "optimizer_state": None,
}

METRIC: JsonDict = {
    "name": "loss",
    "step": 10,
    "value": 5.4487,
    "timestamp": "2026-12-02T12:27:26.475437Z",
}

MODEL: JsonDict = {
    "id": 1,
    "job_id": 1,
    "task": "binary_addition",
    "hyperparams": BINARY_ADDITION_HYPERPARAMS,
    "metrics": {
        "final_accuracy": 1.0,
        "final_bit_accuracy": 1.0,
        "final_loss": 0.147,
        "eval_pairs": 16384,
        "steps": 68,
    },
    "corpus_id": None,
    "sha256": "0b94beed51a5b380252d1482ca8dc927559ba7408e3b0b510c984da8a5444a95",
    "size_bytes": 2526,
    "created_at": "2026-12-02T12:27:26.545722Z",
    "name": "baseline",
    "tags": ["exp-1"],
    "aliases": ["default"],
    "parent_model_id": None,
}

JOBS: JsonDict = {"jobs": [JOB], "count": 1}
METRICS: JsonDict = {"job_id": 1, "metrics": [METRIC], "downsampled": False, "last_step": 10}
MODELS: JsonDict = {"models": [MODEL], "count": 1}

# The demo corpus every service starts with
CORPUS: JsonDict = {
    "id": 1,
    "name": "demo",
    "characters": 25515,
    "tokens": 4976,
    "vocabulary_size": 233,
    "unknown_threshold": 3,
    "unknown_token_fraction": 0.0776,
    "unknown_token": "<unk>",
    "sha256": "44c7d27e02486d358e027d1da2661536f0a2729b8604e12320e08973854a371f",
    "created_at": "2026-12-02T12:30:11.251040Z",
}

DICTIONARY: JsonDict = {
    "corpus_id": 1,
    "unknown_token": "<unk>",
    "words": {
        "<unk>": {"id": 0, "count": 386},
        "the": {"id": 1, "count": 825},
        "and": {"id": 2, "count": 196},
    },
}

CORPORA: JsonDict = {"corpora": [CORPUS], "count": 1}

# GET /predict?a=37&b=45
BINARY_ADDITION_PREDICTION: JsonDict = {
    "sum": 82,
    "bits": [0, 1, 0, 1, 0, 0, 1, 0],
    "probabilities": [0.0022, 0.9757, 0.0143, 0.9806, 0.0283, 0.0147, 0.9834, 0.0122],
    "model_id": 1,
    "model_selected_by": "newest",
}

# GET /predict?text=the children&k=3
NEXT_WORD_PREDICTION: JsonDict = {
    "predictions": [
        {"word": "<unk>", "probability": 0.0589, "unknown": True},
        {"word": "the", "probability": 0.0568, "unknown": False},
        {"word": "in", "probability": 0.0206, "unknown": False},
    ],
    "model_id": 2,
    "context": ["the", "children"],
    "unknown_words": [],
    "model_selected_by": "newest",
}

# GET /generate?text=the children&words=5&seed=1
GENERATION: JsonDict = {
    "text": "the children street but on run a",
    "continuation": ["street", "but", "on", "run", "a"],
    "model_id": 2,
    "unknown_words": [],
    "model_selected_by": "newest",
}

HEALTH: JsonDict = {"status": "ok", "version": "0.1.0"}


def shown(example: JsonDict) -> ConfigDict:
    """The model_config of a schema whose example is `example`."""
    return ConfigDict(json_schema_extra={"examples": [example]})
