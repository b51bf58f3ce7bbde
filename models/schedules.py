"""Learning-rate schedules: the rate of each update, asked for before it is made.

A training loop holds one schedule, asks ``rate(step)`` before every update (``step`` counts the
updates already made: 0 for the first) and tells it ``observe(loss)`` after every evaluation;
only ``plateau`` listens. What a schedule remembers between steps (plateau's best loss, its count
of evaluations without improvement and its current rate) is ``state_dict()``, saved in
checkpoints so that a resumed run is bit for bit the uninterrupted one.

    constant  the rate as given, every step
    step      x factor every `every` steps                       (torch StepLR)
    plateau   x factor once more than `patience` evaluations in a row did not lower the best
              loss, never below min_rate                          (torch ReduceLROnPlateau)
    cosine    a linear warm-up over `warmup` steps to the rate, then half a cosine down to
              min_rate at the last step              (torch LinearLR, then CosineAnnealingLR)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

SCHEDULES = ("constant", "step", "plateau", "cosine")
# A plateau cut smaller than this is not made: the rate stops falling near 1e-8 instead of
# shrinking towards zero when nothing improves (torch's ReduceLROnPlateau `eps`).
NEGLIGIBLE_CHANGE = 1e-8


class Schedule:
    """The given rate at every step; the base of the others."""

    def __init__(self, rate: float) -> None:
        self.base_rate = float(rate)

    def rate(self, step: int) -> float:
        return self.base_rate

    def observe(self, loss: float) -> None:
        """An evaluation's loss (lower is better)."""

    def state_dict(self) -> dict[str, NDArray]:
        return {}

    def load_state_dict(self, state: Mapping[str, NDArray]) -> None:
        """Continue from `state` (what state_dict gave)."""


class StepDecay(Schedule):
    """rate * factor ** (step // every)."""

    def __init__(self, rate: float, factor: float, every: int) -> None:
        super().__init__(rate)
        self.factor, self.every = factor, every

    def rate(self, step: int) -> float:
        return self.base_rate * self.factor ** (step // self.every)


class Plateau(Schedule):
    """x factor after more than `patience` evaluations in a row without a new best loss.

    patience 0 multiplies at the first evaluation that does not improve (the PyTorch
    word-language-model example, with factor 0.25); Keras' ReduceLROnPlateau(patience=p) is
    patience p - 1 here. A loss counts as better only if strictly below the best so far.
    """

    def __init__(self, rate: float, factor: float, patience: int, min_rate: float) -> None:
        super().__init__(rate)
        self.factor, self.patience, self.min_rate = factor, patience, min_rate
        self.current = self.base_rate
        self.best = math.inf
        self.bad_evaluations = 0

    def rate(self, step: int) -> float:
        return self.current

    def observe(self, loss: float) -> None:
        if loss < self.best:
            self.best, self.bad_evaluations = loss, 0
            return
        self.bad_evaluations += 1
        if self.bad_evaluations > self.patience:
            lower = max(self.current * self.factor, self.min_rate)
            if self.current - lower > NEGLIGIBLE_CHANGE:
                self.current = lower
            self.bad_evaluations = 0

    def state_dict(self) -> dict[str, NDArray]:
        return {
            "current": np.array(self.current, dtype=np.float64),
            "best": np.array(self.best, dtype=np.float64),
            "bad_evaluations": np.array(self.bad_evaluations, dtype=np.int64),
        }

    def load_state_dict(self, state: Mapping[str, NDArray]) -> None:
        self.current = float(state["current"])
        self.best = float(state["best"])
        self.bad_evaluations = int(state["bad_evaluations"])


class WarmupCosine(Schedule):
    """Steps 0..warmup-1: rate * (step + 1) / warmup; then, over the remaining steps,
    min_rate + (rate - min_rate) * (1 + cos(pi * t / T)) / 2 with t = step - warmup and
    T = total_steps - warmup. Past total_steps the rate stays at min_rate."""

    def __init__(self, rate: float, warmup: int, total_steps: int, min_rate: float) -> None:
        super().__init__(rate)
        self.warmup, self.total_steps, self.min_rate = warmup, total_steps, min_rate

    def rate(self, step: int) -> float:
        if step < self.warmup:
            return self.base_rate * (step + 1) / self.warmup
        t, span = step - self.warmup, self.total_steps - self.warmup
        if t >= span:
            return self.min_rate
        cosine = (1 + math.cos(math.pi * t / span)) / 2  # 1 at t = 0, 0 at t = span
        return self.min_rate + (self.base_rate - self.min_rate) * cosine


def make_schedule(
    name: str,
    rate: float,
    *,
    factor: float = 0.25,
    every: int = 1,
    patience: int = 0,
    min_rate: float = 0.0,
    warmup: int = 0,
    total_steps: int = 1,
) -> Schedule:
    """The schedule called `name` (one of SCHEDULES); `every` and `total_steps` count updates."""
    if name == "constant":
        return Schedule(rate)
    if name == "step":
        return StepDecay(rate, factor, every)
    if name == "plateau":
        return Plateau(rate, factor, patience, min_rate)
    if name == "cosine":
        return WarmupCosine(rate, warmup, total_steps, min_rate)
    raise ValueError(f"unknown lr_schedule {name!r}: allowed values are {', '.join(SCHEDULES)}")
