"""The hyperparameters of a binary-addition run, with their defaults and bounds (names are the
HTTP API's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnlab.models.init import INITS
from rnnlab.models.layers.activations import ACTIVATIONS
from rnnlab.models.layers.losses import LOSSES
from rnnlab.models.optim import OPTIMIZERS
from rnnlab.models.recurrent import CELLS, IMPLEMENTATIONS
from rnnlab.models.tasks.config import (
    EarlyStopping,
    check,
    clip_norm_param,
    dropout_param,
    from_dict,
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

# What a validation measures, each a metric of the run (the first is early stopping's default)
VALIDATION_METRICS = ("validation_loss", "validation_accuracy", "validation_bit_accuracy")


@dataclass(frozen=True)
class BinaryAdditionEarlyStopping(EarlyStopping):
    metric: str = param(
        "validation_loss", choices=VALIDATION_METRICS, description="The figure watched."
    )


@dataclass(frozen=True)
class BinaryAdditionConfig:
    binary_dim: int = param(8, ge=2, le=32, description="Bits per number.")
    hidden_size: int = param(16, ge=1, le=1024)
    cell: str = param("rnn", choices=CELLS)
    num_layers: int = param(1, ge=1, le=3)
    activation: str = param(
        "tanh", choices=ACTIVATIONS, description="Hidden activation of the rnn cell."
    )
    init: str = param("xavier", choices=INITS)
    init_std: float = param(1.0, gt=0, le=100, description="Std for init='normal'.")
    optimizer: str = param("adam", choices=OPTIMIZERS)
    learning_rate: float = param(0.05, gt=0, le=100)
    lr_schedule: str = lr_schedule_param()
    lr_factor: float = lr_factor_param()
    lr_step_every: int = param(
        1000, ge=1, le=10_000_000, description="step: steps (updates) between two cuts."
    )
    lr_patience: int = param(
        4,
        ge=0,
        le=10_000_000,
        description="plateau: log steps in a row whose loss (the mean of the batches since the "
        "last one) is no new best that are borne; the next one cuts the rate.",
    )
    lr_min: float = lr_min_param()
    lr_warmup: int = lr_warmup_param()
    # 64 was the fastest to 100% of 64, 128 and 256 (median of 20 seeds)
    batch_size: int = param(64, ge=1, le=65536, description="1 reproduces the notes.")
    iterations: int = param(
        2000, ge=1, le=10_000_000, description="Most steps (with train_samples 0)."
    )
    train_samples: int = param(
        0,
        ge=0,
        le=1_000_000,
        description="0: fresh random pairs at every step. N: a fixed training set of N pairs "
        "drawn once from the seed, seen for `epochs` (the notes' Keras protocol); the pairs it "
        "does not hold are its test set.",
    )
    epochs: int = param(
        5, ge=1, le=100_000, description="Passes over the train_samples set (when it is on)."
    )
    clip_norm: float | None = clip_norm_param(None)
    loss: str = param("bce", choices=LOSSES)
    seed: int = seed_param()
    log_every: int = param(10, ge=1, le=10_000_000, description="Steps per metric.")
    stop_at_accuracy: float = param(
        1.0, ge=0, le=1, description="Stop once all-pairs accuracy reaches it."
    )
    bias: bool = param(True, description="Biases in the cell (the notes have none).")
    dropout: float = dropout_param("; the notes' Keras runs use 0.5")
    recurrent_dropout: float = recurrent_dropout_param("; the notes' Keras runs use 0.3")
    # The exhaustive check of every pair stays the test: early stopping validates on a sample
    # of its own, drawn from the seed, so that the test decides nothing but stop_at_accuracy.
    early_stopping: BinaryAdditionEarlyStopping | None = group_param(  # noqa: RUF009 (a field)
        BinaryAdditionEarlyStopping,
        "Stop when a validation figure stops improving (validating on validation_samples "
        "pairs every validation_every steps); null: off.",
    )
    validation_samples: int = param(
        1024, ge=1, le=65536, description="Pairs drawn from the seed to validate on."
    )
    validation_every: int = param(
        100, ge=1, le=10_000_000, description="Steps between validations."
    )
    restore_best: bool = restore_best_param()
    teaching_views: bool = param(
        True,
        description="Record a few fixed sums and each bit's accuracy at each log step.",
    )
    # every 100 steps, as the notes plot: rare enough that tracing is a small share of a run
    # (bench/teaching.py measures it)
    gradient_norms_every: int | None = gradient_norms_param(100)
    implementation: str = implementation_param(IMPLEMENTATIONS)

    def __post_init__(self) -> None:
        check(self)
        if not self.bias and self.cell != "rnn":
            raise ValueError(f"bias=false is only supported for cell rnn, not {self.cell}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BinaryAdditionConfig:
        """Build from a dict, rejecting unknown names with a message that lists the known ones."""
        return from_dict(cls, d)

    @property
    def steps_per_epoch(self) -> int:
        """Batches in a pass over the fixed training set (the last one may be smaller)."""
        return -(-self.train_samples // self.batch_size)

    @property
    def total_steps(self) -> int:
        """Most steps of a run: `iterations`, or `epochs` passes over the training set."""
        return self.epochs * self.steps_per_epoch if self.train_samples else self.iterations

    @property
    def validates(self) -> bool:
        """Whether the run evaluates a validation sample (only early stopping needs one)."""
        return self.early_stopping is not None

    @property
    def max_operand(self) -> int:
        return 2 ** (self.binary_dim - 1) - 1
