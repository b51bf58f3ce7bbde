"""Training a binary-addition net: random batches, one update each, until every pair is right.

A run stops after ``iterations`` steps, or as soon as the exact-match accuracy over all pairs
(the fixed evaluation sample for binary_dim > 9) reaches ``stop_at_accuracy``, or, with
``early_stopping``, once a validation sample drawn from the seed stops improving; the weights
kept are then the best validation point's (``restore_best``), and the check of all pairs is
their test. With ``train_samples`` (the notes' Keras protocol) it trains instead on a fixed set
of pairs for ``epochs`` epochs, and the pairs the set does not hold are its test set, evaluated
at each epoch end. Every step's learning rate comes from ``lr_schedule``; dropout masks from a
generator of their own. What a resumed run needs to go on bit for bit is in state.py.
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
from rnnlab.models.tasks.binary_addition.config import VALIDATION_METRICS, BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.evaluate import evaluate_set
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.models.tasks.binary_addition.sets import RunSets
from rnnlab.models.tasks.binary_addition.state import RunState, StopCheck, dropout_generator
from rnnlab.models.tasks.binary_addition.teaching import Teacher
from rnnlab.models.tasks.binary_addition.validation import Validation
from rnnlab.models.training import (
    LossWindow,
    Start,
    TrainingDiverged,
    TrainingHooks,
    TrainingStopped,
    TrainResult,
    check_finite,
    lr_schedule_of,
)

# learning_rate: with an lr_schedule other than constant; test_*: with train_samples, over the
# pairs the training set does not hold, at each epoch end (accuracy: whole sums right);
# validation_*: with early_stopping, every validation_every steps
TEST_METRIC_NAMES = ("test_loss", "test_accuracy", "test_bit_accuracy")
METRIC_NAMES = ("loss", "accuracy", "learning_rate", *TEST_METRIC_NAMES, *VALIDATION_METRICS)
FINAL_METRIC_NAMES = (
    "final_accuracy",
    "final_bit_accuracy",
    "final_loss",
    "eval_pairs",
    "steps",
    *TEST_METRIC_NAMES,
    *VALIDATION_METRICS,  # of the kept weights, when the run validates
    "best_step",  # where the kept weights come from
)
HIGHER_IS_BETTER = frozenset(
    {
        "accuracy",
        "final_accuracy",
        "final_bit_accuracy",
        "test_accuracy",
        "test_bit_accuracy",
        *VALIDATION_METRICS[1:],
    }
)


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
    start: Start | None = None,
) -> TrainResult:
    """Train on random batches (or a fixed training set); resume from a state given to
    hooks.save_checkpoint, or else start from a trained model's weights (`start`) instead of
    the seed's. Reports METRIC_NAMES; raises TrainingDiverged on NaN, inf or overflow, and
    TrainingStopped when hooks.should_stop()."""
    hooks = hooks or TrainingHooks()
    rng = np.random.default_rng(config.seed)
    net = BinaryAdditionNet(config, rng)
    sets = RunSets.draw(config, rng)
    run = _start(config, net, rng, sets)
    step = run.restore(resume) if resume is not None else 0
    if resume is None and start is not None:
        run.start_from(start)
    loss_fn = sigmoid_loss(config.loss)
    drops = config.dropout > 0 or config.recurrent_dropout > 0
    final: dict[str, float] | None = None
    teacher = Teacher(config, hooks)

    while step < config.total_steps and final is None and not _stopping(run.validation):
        if hooks.should_stop():
            raise TrainingStopped(f"stopped at step {step}")
        step += 1
        xs, ts = sets.batch(run.rng, step)
        trace = partial(teacher.trace, net, step=step) if teacher.traces_at(step) else None
        run.opt.lr = run.schedule.rate(step - 1)
        masks_rng = run.dropout_rng if drops else None
        loss = train_step(net, run.opt, loss_fn, config.clip_norm, xs, ts, step, trace, masks_rng)
        logits: NDArray = net.logits  # type: ignore[assignment]  # set by the forward pass
        hits = (logits > 0) == ts
        teacher.count(hits)
        run.window.add(loss)
        right = int(hits.all(axis=1).sum())
        if run.stop_check.due(right, len(ts), config.stop_at_accuracy):
            final = evaluate_set(
                net, config, sets.every_pair, give_up_below=config.stop_at_accuracy
            )
            if final is None:
                run.stop_check.missed()
        done = final is not None or step == config.total_steps
        validated = run.validation.at(net, step, last=done) if run.validation else None
        done = done or _stopping(run.validation)
        progress = 1.0 if done else step / config.total_steps
        metrics = _log_metrics(config, step, done, loss, right / len(ts), run)
        if sets.test_set is not None and (sets.epoch_ends(step) or done):
            metrics.update(sets.test_set.evaluate(net, config))
        for figures in (metrics, validated):
            if figures:
                hooks.report(step, figures, progress)
        if step % config.log_every == 0 or done:
            teacher.log(net, step)
            run.schedule.observe(run.window.take_mean())
        if final is None and not _stopping(run.validation) and hooks.checkpoint_due():
            hooks.save_checkpoint(step, run.checkpoint(step))

    return _result(net, config, sets, final, step, run.validation)


def _start(
    config: BinaryAdditionConfig, net: BinaryAdditionNet, rng: Generator, sets: RunSets
) -> RunState:
    """A run's state at step 0."""
    return RunState(
        net=net,
        opt=make_optimizer(config.optimizer, config.learning_rate),
        rng=rng,
        dropout_rng=dropout_generator(config.seed),
        stop_check=StopCheck(sets.every_pair.pairs),
        schedule=lr_schedule_of(config, config.total_steps),
        window=LossWindow(),
        validation=Validation(config, HIGHER_IS_BETTER) if config.validates else None,
    )


def _log_metrics(
    config: BinaryAdditionConfig, step: int, done: bool, loss: float, accuracy: float, run: RunState
) -> dict[str, float]:
    """A log step's metrics (none between log steps): the batch's loss and accuracy, and the
    rate when scheduled."""
    if step % config.log_every and not done:
        return {}
    metrics = {"loss": loss, "accuracy": accuracy}
    if config.lr_schedule != "constant":
        metrics["learning_rate"] = run.opt.lr
    return metrics


def _result(
    net: BinaryAdditionNet,
    config: BinaryAdditionConfig,
    sets: RunSets,
    final: dict[str, float] | None,
    step: int,
    validation: Validation | None,
) -> TrainResult:
    """The weights kept (the best validation point's, with restore_best) and their figures:
    `final` when it is their check of every pair already, else that check now; their test."""
    restored = validation is not None and validation.restore_best(net, step)
    if final is None or restored:
        final = evaluate_set(net, config, sets.every_pair)
        assert final is not None
    metrics = _final_metrics(final, step)
    if sets.test_set is not None:
        metrics.update(sets.test_set.evaluate(net, config))
    if validation is not None:
        metrics.update(validation.summary())
    return TrainResult(weights=net.weights(), metrics=metrics, steps=step)


def _stopping(validation: Validation | None) -> bool:
    """Early stopping's patience ran out."""
    return validation is not None and validation.stopping


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
