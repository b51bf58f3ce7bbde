"""Training a binary-addition net: random batches, one update each, until every pair is right.

A run stops after ``iterations`` steps, or as soon as the exact-match accuracy over all pairs
(the fixed evaluation sample for binary_dim > 9) reaches ``stop_at_accuracy``. With
``train_samples`` (the notes' Keras protocol) it trains instead on a fixed set of pairs for
``epochs`` epochs, and the pairs the set does not hold are its test set, evaluated at each
epoch end. A checkpoint holds everything a resumed run needs to continue bit for bit, the
dropout generator included.

Dropout masks come from a generator of their own (seeded from the run's seed), so that the
batches a run sees do not depend on its dropout rates: runs with and without dropout train on
the same samples.
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
from rnnlab.models.schedules import Schedule
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import (
    TrainingSet,
    draw_pairs,
    evaluation_pairs,
    sample_batch,
)
from rnnlab.models.tasks.binary_addition.evaluate import EvaluationSet, HeldOutSet, evaluate_set
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.teaching import Teacher
from rnnlab.models.training import (
    LossWindow,
    TrainingDiverged,
    TrainingHooks,
    TrainingStopped,
    TrainResult,
    check_finite,
    lr_schedule_of,
    prefixed,
    rng_from_array,
    rng_to_array,
    section,
)

DROPOUT_STREAM = 1  # the dropout generator is seeded with (seed, DROPOUT_STREAM)
# learning_rate: with an lr_schedule other than constant; test_*: with train_samples, over the
# pairs the training set does not hold, at each epoch end (accuracy: whole sums right)
TEST_METRIC_NAMES = ("test_loss", "test_accuracy", "test_bit_accuracy")
METRIC_NAMES = ("loss", "accuracy", "learning_rate", *TEST_METRIC_NAMES)
FINAL_METRIC_NAMES = (
    "final_accuracy",
    "final_bit_accuracy",
    "final_loss",
    "eval_pairs",
    "steps",
    *TEST_METRIC_NAMES,
)


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


def dropout_generator(seed: int) -> Generator:
    """The generator of a run's dropout masks, apart from the one that draws its batches."""
    return np.random.default_rng([seed, DROPOUT_STREAM])


def checkpoint(
    net: BinaryAdditionNet,
    opt: Optimizer,
    rngs: tuple[Generator, Generator],
    step: int,
    stop_check: StopCheck,
    schedule: Schedule,
    window: LossWindow,
) -> dict[str, NDArray]:
    """A flat dict of arrays (keys param.*, opt.*, stopcheck.*, schedule.*, window.*, rng,
    dropout_rng, step); rngs are the batches' generator and the dropout masks'."""
    state = {f"param.{n}": p.copy() for n, p in zip(net.param_names, net.params, strict=True)}
    state.update({f"opt.{k}": v for k, v in opt.state_dict().items()})
    state.update({f"stopcheck.{k}": v for k, v in stop_check.state_dict().items()})
    state.update(prefixed("schedule.", schedule.state_dict()))
    state.update(prefixed("window.", window.state_dict()))
    state["rng"] = rng_to_array(rngs[0])
    state["dropout_rng"] = rng_to_array(rngs[1])
    state["step"] = np.array(step, dtype=np.int64)
    return state


def restore(
    state: Mapping[str, NDArray],
    net: BinaryAdditionNet,
    opt: Optimizer,
    stop_check: StopCheck,
    schedule: Schedule,
    window: LossWindow,
    dropout_rng: Generator,
) -> tuple[Generator, Generator, int]:
    """Load a checkpoint into net, optimiser, stop check, schedule and loss window; the
    batches' generator, the dropout generator (`dropout_rng`, fresh, when the checkpoint
    predates dropout: its run drew no mask) and the step."""
    missing = [k for k in ("rng", "step") if k not in state]
    if missing:
        raise ValueError(f"not a binary-addition checkpoint: missing {', '.join(missing)}")
    net.load_weights(section("param.", state))
    opt.load_state_dict(section("opt.", state))
    if "stopcheck.window_min" in state:
        stop_check.load_state_dict(section("stopcheck.", state))
    schedule.load_state_dict(section("schedule.", state))
    if "window.count" in state:  # checkpoints older than the schedules have none
        window.load_state_dict(section("window.", state))
    if "dropout_rng" in state:
        dropout_rng = rng_from_array(state["dropout_rng"])
    return rng_from_array(state["rng"]), dropout_rng, int(state["step"])


def train_step(
    net: BinaryAdditionNet,
    opt: Optimizer,
    loss_fn: LossFn,
    clip_norm: float | None,
    xs: NDArray,
    ts: NDArray,
    step: int,
    trace: Callable[[NDArray], None] | None = None,
    dropout_rng: Generator | None = None,
) -> float:
    """One forward, backward and update; the loss of the batch before the update. `trace`
    (dlogits) runs between the loss and the backward (the gradient-norm view); the forward
    pass drops units when given `dropout_rng`.

    Overflow and invalid operations mean divergence and raise TrainingDiverged; underflow
    (e.g. exp of a large negative number) is harmless.
    """
    try:
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            loss, dlogits = loss_fn(net.forward(xs, dropout_rng), ts)
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
) -> TrainResult:
    """Train on random batches (or a fixed training set); resume from a state given to
    hooks.save_checkpoint. Reports METRIC_NAMES; raises TrainingDiverged on NaN, inf or
    overflow, and TrainingStopped when hooks.should_stop()."""
    hooks = hooks or TrainingHooks()
    rng = np.random.default_rng(config.seed)
    net = BinaryAdditionNet(config, rng)
    opt = make_optimizer(config.optimizer, config.learning_rate)
    loss_fn = sigmoid_loss(config.loss)
    eval_set, training_set, test_set = _evaluation_and_training_sets(config, rng)
    stop_check = StopCheck(eval_set.pairs)
    schedule, window = lr_schedule_of(config, config.total_steps), LossWindow()
    dropout_rng = dropout_generator(config.seed)
    step = 0
    if resume is not None:
        rng, dropout_rng, step = restore(
            resume, net, opt, stop_check, schedule, window, dropout_rng
        )
    drops = config.dropout > 0 or config.recurrent_dropout > 0
    final: dict[str, float] | None = None
    teacher = Teacher(config, hooks)

    while step < config.total_steps and final is None:
        if hooks.should_stop():
            raise TrainingStopped(f"stopped at step {step}")
        step += 1
        xs, ts = _batch(config, training_set, rng, step)
        trace = partial(teacher.trace, net, step=step) if teacher.traces_at(step) else None
        opt.lr = schedule.rate(step - 1)
        loss = train_step(
            net, opt, loss_fn, config.clip_norm, xs, ts, step, trace, dropout_rng if drops else None
        )
        logits: NDArray = net.logits  # type: ignore[assignment]  # set by the forward pass
        hits = (logits > 0) == ts
        teacher.count(hits)
        window.add(loss)
        right = int(hits.all(axis=1).sum())
        if stop_check.due(right, len(ts), config.stop_at_accuracy):
            final = evaluate_set(net, config, eval_set, give_up_below=config.stop_at_accuracy)
            if final is None:
                stop_check.missed()
        done = final is not None or step == config.total_steps
        logs = step % config.log_every == 0 or done
        metrics = _log_metrics(config, loss, right / len(ts), opt.lr) if logs else {}
        if test_set is not None and (step % config.steps_per_epoch == 0 or done):
            metrics.update(test_set.evaluate(net, config))
        if metrics:
            hooks.report(step, metrics, 1.0 if done else step / config.total_steps)
        if logs:
            teacher.log(net, step)
            schedule.observe(window.take_mean())
        if final is None and hooks.checkpoint_due():
            state = checkpoint(net, opt, (rng, dropout_rng), step, stop_check, schedule, window)
            hooks.save_checkpoint(step, state)

    if final is None:
        final = evaluate_set(net, config, eval_set)
        assert final is not None
    tested = test_set.evaluate(net, config) if test_set is not None else {}
    metrics = {**_final_metrics(final, step), **tested}
    return TrainResult(weights=net.weights(), metrics=metrics, steps=step)


def _evaluation_and_training_sets(
    config: BinaryAdditionConfig, rng: Generator
) -> tuple[EvaluationSet, TrainingSet | None, HeldOutSet | None]:
    """Every pair (or the fixed sample); with train_samples, the training set, drawn from `rng`
    (the seed's stream: a resumed run draws it again), and the evaluation pairs it lacks as its
    test set."""
    eval_pairs = evaluation_pairs(config.binary_dim)
    eval_set = EvaluationSet.build(*eval_pairs, config.binary_dim)
    if not config.train_samples:
        return eval_set, None, None
    pairs = draw_pairs(rng, config.train_samples, config.binary_dim)
    training_set = TrainingSet(*pairs, config.batch_size, config.binary_dim, config.seed)
    return eval_set, training_set, HeldOutSet(eval_set, training_set.lacks(*eval_pairs))


def _batch(
    config: BinaryAdditionConfig, training_set: TrainingSet | None, rng: Generator, step: int
) -> tuple[NDArray, NDArray]:
    """Step `step`'s batch: fresh random pairs, or the next batch of the training set."""
    if training_set is None:
        return sample_batch(rng, config.batch_size, config.binary_dim)
    return training_set.batch(step - 1)


def _log_metrics(
    config: BinaryAdditionConfig, loss: float, accuracy: float, rate: float
) -> dict[str, float]:
    """A log step's metrics: the batch's loss and accuracy, and the rate when scheduled."""
    metrics = {"loss": loss, "accuracy": accuracy}
    if config.lr_schedule != "constant":
        metrics["learning_rate"] = rate
    return metrics


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
