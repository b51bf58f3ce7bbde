"""Choosing the weights to keep by a validation figure, and when to stop: the best point so far.

A run that evaluates a validation set hands each figure to ``BestPoint.observe``; the point
counts as better when it beats the best so far by more than ``min_delta`` (Keras'
EarlyStopping), and then its weights are copied (``keep_weights``, Keras'
restore_best_weights). ``exhausted`` says that ``patience`` validations have passed without
one: the run stops early. Everything it holds goes into a checkpoint (``state_dict``), so the
best weights survive a crash bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

PREFIX = "best."  # its keys in a checkpoint


@dataclass
class BestPoint:
    metric: str
    higher_is_better: bool
    min_delta: float = 0.0
    patience: int | None = None  # None: never stops the run
    keep_weights: bool = True
    value: float | None = None
    step: int = 0
    epoch: float | None = None  # epochs trained at the best point (runs that count epochs)
    waited: int = 0  # validations since the best
    figures: dict[str, float] = field(default_factory=dict)  # every figure of the best validation
    weights: dict[str, NDArray] = field(default_factory=dict)

    def observe(
        self,
        metrics: Mapping[str, float],
        step: int,
        weights: Callable[[], dict[str, NDArray]],
        epoch: float | None = None,
    ) -> bool:
        """Take a validation's `metrics` at `step` (after `epoch` epochs); True when it is the
        new best, whose `weights()` (a copy) are then kept."""
        value = float(metrics[self.metric])
        if not self._better(value):
            self.waited += 1
            return False
        self.value, self.step, self.waited = value, step, 0
        self.epoch = None if epoch is None else float(epoch)
        self.figures = {k: float(v) for k, v in metrics.items()}
        if self.keep_weights:
            self.weights = weights()
        return True

    def _better(self, value: float) -> bool:
        if np.isnan(value):
            return False
        if self.value is None:
            return True
        if self.higher_is_better:
            return value > self.value + self.min_delta
        return value < self.value - self.min_delta

    @property
    def exhausted(self) -> bool:
        """True once `patience` validations in a row brought no better point."""
        return self.patience is not None and self.waited >= self.patience

    def summary(self) -> dict[str, float]:
        """Where the best point was, for the model's figures (empty before any validation)."""
        if self.value is None:
            return {}
        where = {"best_step": float(self.step)}
        if self.epoch is not None:
            where["best_epoch"] = self.epoch
        return where

    def state_dict(self) -> dict[str, NDArray]:
        state = {f"{PREFIX}weights.{k}": v.copy() for k, v in self.weights.items()}
        state.update({f"{PREFIX}figure.{k}": np.array(v) for k, v in self.figures.items()})
        state[f"{PREFIX}value"] = np.array(np.nan if self.value is None else self.value)
        state[f"{PREFIX}step"] = np.array(self.step, dtype=np.int64)
        state[f"{PREFIX}epoch"] = np.array(np.nan if self.epoch is None else self.epoch)
        state[f"{PREFIX}waited"] = np.array(self.waited, dtype=np.int64)
        return state

    def load_state_dict(self, state: Mapping[str, NDArray]) -> None:
        """Continue from a checkpoint's state; one without it (saved before any validation, or
        by an older version) leaves the point empty."""
        if f"{PREFIX}value" not in state:
            return
        value = float(state[f"{PREFIX}value"])
        self.value = None if np.isnan(value) else value
        self.step = int(state[f"{PREFIX}step"])
        epoch = float(state[f"{PREFIX}epoch"])
        self.epoch = None if np.isnan(epoch) else epoch
        self.waited = int(state[f"{PREFIX}waited"])
        self.figures = {k: float(v) for k, v in _section(state, f"{PREFIX}figure.").items()}
        self.weights = {
            k: np.array(v, copy=True) for k, v in _section(state, f"{PREFIX}weights.").items()
        }


def _section(state: Mapping[str, NDArray], prefix: str) -> dict[str, NDArray]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
