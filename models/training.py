"""What every training loop shares: hooks, errors, result and RNG serialisation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.schedules import Schedule, make_schedule


class TrainingHooks:
    """Callbacks a training loop calls; every method does nothing here, subclasses override."""

    def report(self, step: int, metrics: Mapping[str, float], progress: float) -> None:
        """Metrics logged at `step`; progress in 0..1."""

    def should_stop(self) -> bool:
        """True to cancel: checked every step, the loop raises TrainingStopped."""
        return False

    def checkpoint_due(self) -> bool:
        """True when the loop should call save_checkpoint now (checked every step)."""
        return False

    def save_checkpoint(self, step: int, state: dict[str, NDArray]) -> None:
        """A flat dict of arrays from which training resumes bit for bit."""

    def wants(self, kind: str) -> bool:
        """True when records of `kind` (one of RECORD_KINDS) are wanted: a loop computes a
        record only then, so a run nobody watches pays nothing for it."""
        return False

    def record(self, step: int, kind: str, payload: Mapping[str, Any]) -> None:
        """A teaching record of `kind` at `step`: JSON-ready numbers, strings and lists."""


# What a loop can record besides metrics (each task's teaching.py says what its payloads hold).
RECORD_KINDS = ("sums", "bit_accuracy", "gradient_norms", "generated")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says what to change."""


class TrainingStopped(Exception):
    """Raised by a training loop when hooks.should_stop() returned True."""


@dataclass(frozen=True)
class Start:
    """Where a new run starts instead of its seed's initialisation: a trained model's weights
    (by name), and the checkpoint of the run that trained it when one was kept, whose
    optimiser state the new run takes over (None: the optimiser starts fresh). A resumed run
    ignores it: its own checkpoint holds everything."""

    weights: Mapping[str, NDArray]
    checkpoint: Mapping[str, NDArray] | None = None


@dataclass
class TrainResult:
    weights: dict[str, NDArray]
    metrics: dict[str, float] = field(default_factory=dict)
    steps: int = 0


def check_finite(loss: float, step: int) -> None:
    """Raise TrainingDiverged with a readable message if `loss` is NaN or infinite."""
    if np.isnan(loss):
        what = "NaN"
    elif np.isinf(loss):
        what = "infinite"
    else:
        return
    raise TrainingDiverged(
        f"loss became {what} at step {step}: lower the learning rate or set clip_norm"
    )


def rng_to_array(rng: Generator) -> NDArray[np.uint8]:
    """bit_generator.state as JSON bytes in a uint8 array (npz-able, never pickled)."""
    text = json.dumps(rng.bit_generator.state, sort_keys=True)
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def rng_from_array(a: NDArray[np.uint8]) -> Generator:
    """Rebuild the generator saved by rng_to_array, continuing its stream exactly."""
    state = json.loads(np.asarray(a, dtype=np.uint8).tobytes().decode("utf-8"))
    bit_generator_cls = getattr(np.random, state["bit_generator"])
    bit_generator = bit_generator_cls()
    bit_generator.state = state
    return Generator(bit_generator)


def copy_weights(names: list[str], params: list[NDArray]) -> dict[str, NDArray]:
    """A model's parameters by name, copied (the model goes on training)."""
    return {name: p.copy() for name, p in zip(names, params, strict=True)}


def load_weights(names: list[str], params: list[NDArray], weights: Mapping[str, NDArray]) -> None:
    """Copy `weights` into `params` in place; ValueError naming what does not fit."""
    missing = [name for name in names if name not in weights]
    if missing:
        raise ValueError(f"weights do not fit this configuration: missing {', '.join(missing)}")
    for name, p in zip(names, params, strict=True):
        w = np.asarray(weights[name])
        if w.shape != p.shape:
            raise ValueError(
                f"weights do not fit this configuration: {name} has shape {w.shape}, "
                f"expected {p.shape}"
            )
        p[...] = w


class LossWindow:
    """The batch losses since the last take: their mean is what a plateau schedule can be told
    at a log step (with fresh samples every step, a loss on data not trained on)."""

    def __init__(self) -> None:
        self.total, self.count = 0.0, 0

    def add(self, loss: float) -> None:
        self.total, self.count = self.total + loss, self.count + 1

    def take_mean(self) -> float:
        mean = self.total / max(self.count, 1)
        self.total, self.count = 0.0, 0
        return mean

    def state_dict(self) -> dict[str, NDArray]:
        return {"total": np.array(self.total), "count": np.array(self.count, dtype=np.int64)}

    def load_state_dict(self, d: Mapping[str, NDArray]) -> None:
        self.total, self.count = float(d["total"]), int(d["count"])


def lr_schedule_of(config: Any, total_steps: int, steps_per_unit: int = 1) -> Schedule:
    """The learning-rate schedule a config's lr_* fields describe (models/schedules.py);
    its `lr_step_every` counts units of `steps_per_unit` updates (an epoch, or one step)."""
    return make_schedule(
        config.lr_schedule,
        config.learning_rate,
        factor=config.lr_factor,
        every=config.lr_step_every * steps_per_unit,
        patience=config.lr_patience,
        min_rate=config.lr_min,
        warmup=config.lr_warmup,
        total_steps=total_steps,
    )


def prefixed(prefix: str, state: Mapping[str, NDArray]) -> dict[str, NDArray]:
    """`state` with each key behind `prefix`: one section of a flat checkpoint."""
    return {prefix + k: v for k, v in state.items()}


def section(prefix: str, state: Mapping[str, NDArray]) -> dict[str, NDArray]:
    """The keys of `state` behind `prefix`, without it: what prefixed() put there."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
