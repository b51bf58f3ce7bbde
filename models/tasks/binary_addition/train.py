"""Training a binary-addition net: random batches, one update each, until every pair is right.

A run stops after ``iterations`` steps, or as soon as the exact-match accuracy over all pairs
(the fixed evaluation sample for binary_dim > 9) reaches ``stop_at_accuracy``. A checkpoint
holds everything a resumed run needs to continue bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.layers.losses import LossFn, sigmoid_loss
from rnnlab.models.optim import Optimizer, clip_grads, make_optimizer
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import evaluation_pairs, sample_batch
from rnnlab.models.tasks.binary_addition.evaluate import EvaluationSet, evaluate_set
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.teaching import Teacher
from rnnlab.models.training import (
    Start,
    TrainingDiverged,
    TrainingHooks,
    TrainingStopped,
    TrainResult,
    check_finite,
    rng_from_array,
    rng_to_array,
)

METRIC_NAMES = ("loss", "accuracy")
FINAL_METRIC_NAMES = ("final_accuracy", "final_bit_accuracy", "final_loss", "eval_pairs", "steps")


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


def checkpoint(
    net: BinaryAdditionNet, opt: Optimizer, rng: Generator, step: int, stop_check: StopCheck
) -> dict[str, NDArray]:
    """A flat dict of arrays (keys param.*, opt.*, stopcheck.*, rng, step)."""
    state = {f"param.{n}": p.copy() for n, p in zip(net.param_names, net.params, strict=True)}
    state.update({f"opt.{k}": v for k, v in opt.state_dict().items()})
    state.update({f"stopcheck.{k}": v for k, v in stop_check.state_dict().items()})
    state["rng"] = rng_to_array(rng)
    state["step"] = np.array(step, dtype=np.int64)
    return state


def restore(
    state: Mapping[str, NDArray], net: BinaryAdditionNet, opt: Optimizer, stop_check: StopCheck
) -> tuple[Generator, int]:
    """Load a checkpoint into net, optimiser and stop check; the generator and the step."""

    def section(prefix: str) -> dict[str, NDArray]:
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

    missing = [k for k in ("rng", "step") if k not in state]
    if missing:
        raise ValueError(f"not a binary-addition checkpoint: missing {', '.join(missing)}")
    net.load_weights(section("param."))
    opt.load_state_dict(section("opt."))
    if "stopcheck.window_min" in state:
        stop_check.load_state_dict(section("stopcheck."))
    return rng_from_array(state["rng"]), int(state["step"])


def start_from(start: Start, net: BinaryAdditionNet, opt: Optimizer) -> None:
    """Load a trained model's weights, and the optimiser state of its run's checkpoint when
    `start` has one (else the optimiser starts fresh)."""
    net.load_weights(start.weights)
    if start.checkpoint is not None:
        opt.load_state_dict({k[4:]: v for k, v in start.checkpoint.items() if k.startswith("opt.")})


def train_step(
    net: BinaryAdditionNet,
    opt: Optimizer,
    loss_fn: LossFn,
    clip_norm: float | None,
    xs: NDArray,
    ts: NDArray,
    step: int,
    trace: Callable[[NDArray], None] | None = None,
) -> float:
    """One forward, backward and update; the loss of the batch before the update. `trace`
    (dlogits) runs between the loss and the backward (the gradient-norm view).

    Overflow and invalid operations mean divergence and raise TrainingDiverged; underflow
    (e.g. exp of a large negative number) is harmless.
    """
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            loss, dlogits = loss_fn(net.forward(xs), ts)
            check_finite(loss, step)
            if trace is not None:
                trace(dlogits)
            net.backward(dlogits)
            if clip_norm is not None:
                clip_grads(net.grads, clip_norm)
            opt.update(net.params, net.grads)
    except FloatingPointError as e:
        raise TrainingDiverged(
            f"numbers overflowed at step {step} ({e}): lower the learning rate or set clip_norm"
        ) from e
    return loss


def train(
    config: BinaryAdditionConfig,
    hooks: TrainingHooks | None = None,
    resume: Mapping[str, NDArray] | None = None,
    start: Start | None = None,
) -> TrainResult:
    """Train on random batches; resume from a state given to hooks.save_checkpoint, or else
    start from a trained model's weights (`start`) instead of the seed's.

    Reports METRIC_NAMES every log_every steps; raises TrainingDiverged on NaN, inf or
    overflow, and TrainingStopped when hooks.should_stop().
    """
    hooks = hooks or TrainingHooks()
    rng = np.random.default_rng(config.seed)
    net = BinaryAdditionNet(config, rng)
    opt = make_optimizer(config.optimizer, config.learning_rate)
    loss_fn = sigmoid_loss(config.loss)
    eval_set = EvaluationSet.build(*evaluation_pairs(config.binary_dim), config.binary_dim)
    stop_check = StopCheck(eval_set.pairs)
    step = 0
    if resume is not None:
        rng, step = restore(resume, net, opt, stop_check)
    elif start is not None:
        start_from(start, net, opt)
    final: dict[str, float] | None = None
    teacher = Teacher(config, hooks)

    while step < config.iterations and final is None:
        if hooks.should_stop():
            raise TrainingStopped(f"stopped at step {step}")
        step += 1
        xs, ts = sample_batch(rng, config.batch_size, config.binary_dim)
        trace = partial(teacher.trace, net, step=step) if teacher.traces_at(step) else None
        loss = train_step(net, opt, loss_fn, config.clip_norm, xs, ts, step, trace)
        logits: NDArray = net.logits  # type: ignore[assignment]  # set by the forward pass
        hits = (logits > 0) == ts
        teacher.count(hits)
        right = int(hits.all(axis=1).sum())
        if stop_check.due(right, config.batch_size, config.stop_at_accuracy):
            final = evaluate_set(net, config, eval_set, give_up_below=config.stop_at_accuracy)
            if final is None:
                stop_check.missed()
        done = final is not None or step == config.iterations
        if step % config.log_every == 0 or done:
            progress = 1.0 if done else step / config.iterations
            hooks.report(step, {"loss": loss, "accuracy": right / config.batch_size}, progress)
            teacher.log(net, step)
        if final is None and hooks.checkpoint_due():
            hooks.save_checkpoint(step, checkpoint(net, opt, rng, step, stop_check))

    if final is None:
        final = evaluate_set(net, config, eval_set)
        assert final is not None
    return TrainResult(weights=net.weights(), metrics=_final_metrics(final, step), steps=step)


def _final_metrics(final: dict[str, float], step: int) -> dict[str, float]:
    """FINAL_METRIC_NAMES of the last evaluation; TrainingDiverged when its loss is not finite."""
    if not math.isfinite(final["loss"]):
        raise TrainingDiverged(
            f"loss became {'NaN' if math.isnan(final['loss']) else 'infinite'} at step {step}: "
            "lower the learning rate or set clip_norm"
        )
    return {
        "final_accuracy": final["accuracy"],
        "final_bit_accuracy": final["bit_accuracy"],
        "final_loss": final["loss"],
        "eval_pairs": final["pairs"],
        "steps": float(step),
    }
