"""The hyperparameters of a next-word model, with their defaults and bounds (names are the HTTP
API's).

Defaults are the benchmark's (embedding 100, hidden 128, Adam 0.005, clip 5, window 20) except
``batch_size=32`` and ``epochs=10``: on the few-thousand-word demo corpus that is about 70
updates, enough to learn its frequent phrases; a big corpus wants ``batch_size=64`` and fewer
epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnlab.models.init import INITS
from rnnlab.models.optim import OPTIMIZERS
from rnnlab.models.recurrent import CELLS, IMPLEMENTATIONS
from rnnlab.models.tasks.config import (
    EarlyStopping,
    check,
    clip_norm_param,
    dropout_param,
    gradient_norms_param,
    group_param,
    implementation_param,
    lr_factor_param,
    lr_min_param,
    lr_schedule_param,
    lr_warmup_param,
    param,
    recurrent_dropout_param,
    restore_best_param,
    seed_param,
)

MODES = ("bptt", "chunk")
# What a validation measures, each a metric of the run (the first is early stopping's default)
VALIDATION_METRICS = ("validation_loss", "validation_perplexity", "validation_accuracy")


@dataclass(frozen=True)
class NextWordEarlyStopping(EarlyStopping):
    metric: str = param(
        "validation_loss", choices=VALIDATION_METRICS, description="The figure watched."
    )


@dataclass(frozen=True)
class NextWordConfig:
    cell: str = param("lstm", choices=CELLS)
    peephole: bool = param(False, description="LSTM gates see the cell state.")
    num_layers: int = param(1, ge=1, le=3)
    hidden_size: int = param(128, ge=1, le=4096)
    embedding_size: int = param(100, ge=1, le=4096)
    tie_weights: bool = param(
        False,
        description="The output layer's weight matrix is the embedding's, transposed (one "
        "matrix, as the PyTorch word-language-model's --tied); needs embedding_size = "
        "hidden_size.",
    )
    dropout: float = dropout_param()
    recurrent_dropout: float = recurrent_dropout_param()
    init: str = param("xavier", choices=INITS)
    optimizer: str = param("adam", choices=OPTIMIZERS)
    learning_rate: float = param(0.005, gt=0, le=10)
    lr_schedule: str = lr_schedule_param()
    lr_factor: float = lr_factor_param()
    lr_step_every: int = param(1, ge=1, le=100_000, description="step: epochs between two cuts.")
    lr_patience: int = param(
        0,
        ge=0,
        le=100_000,
        description="plateau: validations in a row whose validation loss (the epoch's training "
        "loss without validation) is no new best that are borne; the next one cuts the rate "
        "(0: the first one does).",
    )
    lr_min: float = lr_min_param()
    lr_warmup: int = lr_warmup_param()
    batch_size: int = param(32, ge=1, le=4096)
    seq_len: int = param(20, ge=1, le=1000)
    epochs: int = param(10, ge=1, le=100_000)
    mode: str = param("bptt", choices=MODES)
    chunk_size: int = param(5, ge=1, le=1000)
    clip_norm: float | None = clip_norm_param(5.0)
    test_fraction: float = param(
        0.2, ge=0.01, le=0.9, description="The last fraction of tokens, for testing."
    )
    validation_fraction: float = param(
        0.1,
        ge=0,
        le=0.9,
        description="The fraction of the tokens the test leaves, taken from their end, for "
        "validation (as Keras' validation_split); 0: none.",
    )
    validation_every: int | None = param(
        None,
        ge=1,
        le=10**9,
        nullable=True,
        description="Steps between validations; null: at each epoch end.",
    )
    early_stopping: NextWordEarlyStopping | None = group_param(  # noqa: RUF009 (a field)
        NextWordEarlyStopping, "Stop when a validation figure stops improving; null: off."
    )
    restore_best: bool = restore_best_param()
    seed: int = seed_param()
    log_every: int = param(50, ge=1, le=10**9, description="Steps per metric.")
    teaching_views: bool = param(
        True,
        description="Record a short text generated from a fixed prompt at each epoch end.",
    )
    gradient_norms_every: int | None = gradient_norms_param(50)
    implementation: str = implementation_param(IMPLEMENTATIONS)

    def __post_init__(self) -> None:
        check(self)
        if self.peephole and self.cell != "lstm":
            raise ValueError(f"peephole applies to cell 'lstm' only, not {self.cell!r}")
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(
                "tie_weights shares the embedding matrix with the output layer, so "
                f"embedding_size ({self.embedding_size}) must equal the last recurrent layer's "
                f"hidden_size ({self.hidden_size}): set both to one size, or tie_weights to false"
            )
        if self.early_stopping is not None and not self.validates:
            raise ValueError("early_stopping needs validation: set validation_fraction above 0")

    @property
    def validates(self) -> bool:
        """Whether the run evaluates a validation split."""
        return self.validation_fraction > 0

    @property
    def window(self) -> int:
        """Time steps per training sample: seq_len (bptt) or chunk_size (chunk)."""
        return self.seq_len if self.mode == "bptt" else self.chunk_size
