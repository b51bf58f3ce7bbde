"""What a binary-addition run carries from one step to the next, and its checkpoint: the net
and its optimiser, the two generators (batches, dropout masks), when the full check runs next,
the learning-rate schedule with its loss window, and early stopping's best point. A resumed run
restores all of it and goes on bit for bit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.optim import Optimizer
from rnnlab.models.schedules import Schedule
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.validation import Validation
from rnnlab.models.training import (
    LossWindow,
    Start,
    prefixed,
    rng_from_array,
    rng_to_array,
    section,
)

DROPOUT_STREAM = 1  # the dropout generator is seeded with (seed, DROPOUT_STREAM)


def dropout_generator(seed: int) -> Generator:
    """The generator of a run's dropout masks, apart from the one that draws its batches, so
    that runs with and without dropout train on the same samples."""
    return np.random.default_rng([seed, DROPOUT_STREAM])


class StopCheck:
    """When to run the full evaluation that decides stop_at_accuracy.

    Evaluating every pair costs several training steps, so it runs only once a window of at
    least `window_min` recent samples was accurate enough; each miss doubles the window (up to a
    cap) so that a near-perfect model does not evaluate every step.
    """

    def __init__(self, eval_pairs: int) -> None:
        self.right = self.seen = 0
        self.window_min = 128
        self.cap = max(128, eval_pairs // 8)

    def due(self, right: int, seen: int, threshold: float) -> bool:
        self.right += right
        self.seen += seen
        if self.seen < self.window_min:
            return False
        ok = self.right >= threshold * self.seen
        self.right = self.seen = 0
        return ok

    def missed(self) -> None:
        self.window_min = min(2 * self.window_min, self.cap)

    def state_dict(self) -> dict[str, NDArray]:
        return {
            k: np.array(getattr(self, k), dtype=np.int64) for k in ("right", "seen", "window_min")
        }

    def load_state_dict(self, d: Mapping[str, NDArray]) -> None:
        for k in ("right", "seen", "window_min"):
            setattr(self, k, int(d[k]))


@dataclass
class RunState:
    net: BinaryAdditionNet
    opt: Optimizer
    rng: Generator  # draws the batches (and, first, the weights and a fixed training set)
    dropout_rng: Generator
    stop_check: StopCheck
    schedule: Schedule
    window: LossWindow  # the losses the schedule is told of at the next log step
    validation: Validation | None  # early stopping's sample and best point

    def checkpoint(self, step: int) -> dict[str, NDArray]:
        """A flat dict of arrays (keys param.*, opt.*, stopcheck.*, schedule.*, window.*,
        best.*, rng, dropout_rng, step)."""
        net = self.net
        state = {f"param.{n}": p.copy() for n, p in zip(net.param_names, net.params, strict=True)}
        state.update(prefixed("opt.", self.opt.state_dict()))
        state.update(prefixed("stopcheck.", self.stop_check.state_dict()))
        state.update(prefixed("schedule.", self.schedule.state_dict()))
        state.update(prefixed("window.", self.window.state_dict()))
        if self.validation is not None:
            state.update(self.validation.state_dict())
        state["rng"] = rng_to_array(self.rng)
        state["dropout_rng"] = rng_to_array(self.dropout_rng)
        state["step"] = np.array(step, dtype=np.int64)
        return state

    def restore(self, state: Mapping[str, NDArray]) -> int:
        """Load a checkpoint into every part; the step it was taken at. Parts a checkpoint
        written before them lacks (the loss window, the dropout generator) start fresh: those
        runs had no schedule's window and drew no mask."""
        missing = [k for k in ("rng", "step") if k not in state]
        if missing:
            raise ValueError(f"not a binary-addition checkpoint: missing {', '.join(missing)}")
        self.net.load_weights(section("param.", state))
        self.opt.load_state_dict(section("opt.", state))
        if "stopcheck.window_min" in state:
            self.stop_check.load_state_dict(section("stopcheck.", state))
        self.schedule.load_state_dict(section("schedule.", state))
        if "window.count" in state:
            self.window.load_state_dict(section("window.", state))
        if self.validation is not None:
            self.validation.best.load_state_dict(state)
        self.rng = rng_from_array(state["rng"])
        if "dropout_rng" in state:
            self.dropout_rng = rng_from_array(state["dropout_rng"])
        return int(state["step"])

    def start_from(self, start: Start) -> None:
        """Begin from a trained model's weights, and from the optimiser state of its run's
        checkpoint when `start` has one (else the optimiser starts fresh)."""
        self.net.load_weights(start.weights)
        if start.checkpoint is not None:
            self.opt.load_state_dict(section("opt.", start.checkpoint))
