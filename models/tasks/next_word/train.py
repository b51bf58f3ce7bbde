"""Training a next-word model: epochs over the training tokens, a validation pass after each (or
every validation_every steps), and one test pass at the end, on the weights that are kept. Each
update's learning rate comes from lr_schedule; plateau watches the validation loss (the epoch's
training loss when the run does not validate)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.optim import Optimizer, clip_grads, make_optimizer
from rnnlab.models.schedules import Schedule
from rnnlab.models.selection import BestPoint
from rnnlab.models.tasks.next_word.checkpoint import checkpoint, restore, start_from
from rnnlab.models.tasks.next_word.config import VALIDATION_METRICS, NextWordConfig
from rnnlab.models.tasks.next_word.data import (
    BpttBatches,
    ChunkBatches,
    as_ids,
    enough_tokens,
    epoch_order,
    min_tokens,
    split_ids,
    test_batches,
)
from rnnlab.models.tasks.next_word.model import NextWordModel
from rnnlab.models.tasks.next_word.teaching import Teacher
from rnnlab.models.training import (
    Start,
    TrainingHooks,
    TrainingStopped,
    TrainResult,
    check_finite,
    lr_schedule_of,
    prefixed,
    section,
)

TEST_METRICS = ("test_loss", "test_perplexity", "test_accuracy")
TRAINING_METRICS = ("train_loss", *VALIDATION_METRICS, *TEST_METRICS, "tokens_per_second")
# learning_rate: with an lr_schedule other than constant, at log steps and epoch ends
METRIC_NAMES = ("loss", *TRAINING_METRICS, "learning_rate")
# best_step, best_epoch: where the kept weights come from (runs that validate)
FINAL_METRIC_NAMES = (*TRAINING_METRICS, "best_step", "best_epoch")
HIGHER_IS_BETTER = frozenset({"validation_accuracy", "test_accuracy", "tokens_per_second"})


def evaluate(
    model: NextWordModel, config: NextWordConfig, ids: NDArray, split: str = "test"
) -> dict[str, float]:
    """Loss, perplexity (exp of mean cross-entropy) and top-1 accuracy on a held-out split,
    window by window, named after it: test_loss, validation_loss..."""
    model.reset_state()
    model.set_stateful(config.mode == "bptt")
    loss_sum, hits, count = 0.0, 0, 0
    for x, y in test_batches(config, ids):
        batch_loss, batch_hits, batch_count = model.evaluate_batch(x, y)
        loss_sum, hits, count = loss_sum + batch_loss, hits + batch_hits, count + batch_count
    model.reset_state()
    loss = loss_sum / count
    return {
        f"{split}_loss": loss,
        f"{split}_perplexity": float(np.exp(min(loss, 700.0))),
        f"{split}_accuracy": hits / count,
    }


@dataclass
class Run:
    """What a run carries from step to step (all of it goes into a checkpoint)."""

    config: NextWordConfig
    model: NextWordModel
    optimizer: Optimizer
    rng: Generator
    batches: BpttBatches | ChunkBatches
    schedule: Schedule
    best: BestPoint | None = None  # None: the run does not validate
    step: int = 0
    epoch: int = 0
    position: int = 0  # the next batch of the epoch
    loss_sum: float = 0.0
    loss_count: int = 0

    def checkpoint(self) -> dict[str, NDArray]:
        c = self
        state = (c.step, c.epoch, c.position, c.loss_sum, c.loss_count)
        saved = checkpoint(c.config, c.model, c.optimizer, c.rng, *state)
        saved.update(prefixed("schedule.", c.schedule.state_dict()))
        if c.best is not None:
            saved.update(c.best.state_dict())
        return saved

    def learning_rate(self, logged: bool) -> dict[str, float]:
        """{"learning_rate": the last update's rate} for a report, when a schedule changes it
        and it was not `logged` at this step already."""
        if self.config.lr_schedule == "constant" or logged:
            return {}
        return {"learning_rate": self.schedule.rate(self.step - 1)}

    @property
    def stopping_early(self) -> bool:
        """Early stopping's patience ran out at the last validation."""
        return self.best is not None and self.best.exhausted


def train(
    config: NextWordConfig,
    token_ids: NDArray,
    vocab_size: int,
    hooks: TrainingHooks | None = None,
    resume: Mapping[str, NDArray] | None = None,
    words: Sequence[str] | None = None,
    start: Start | None = None,
) -> TrainResult:
    """Train on token_ids (1-D ints < vocab_size); see data.py for the two modes. `words` (by
    id) only spell the generated text of the teaching records (teaching.py).

    Calls hooks.report per epoch (train_loss, tokens_per_second, and the validation figures
    when they are taken at epoch ends), every validation_every steps (the validation figures),
    every log_every steps ({"loss"}) and once at the end (the test figures of the kept
    weights); hooks.should_stop() and hooks.checkpoint_due() every step; hooks.save_checkpoint
    at every epoch end but the last. ``resume`` (a checkpoint's state) continues bit for bit;
    else ``start`` (a trained model's weights) replaces the seed's initial weights.
    """
    hooks = hooks or TrainingHooks()
    ids = as_ids(token_ids, vocab_size)
    if not enough_tokens(config, len(ids)):
        raise ValueError(
            f"the corpus has {len(ids)} tokens; these settings need at least {min_tokens(config)} "
            f"(lower batch_size or {'seq_len' if config.mode == 'bptt' else 'chunk_size'})"
        )
    splits = split_ids(config, ids)
    run = _start(config, splits.train, vocab_size, resume, start)
    teacher = Teacher(config, hooks, splits.test, words)
    metrics: dict[str, float] = {}
    while run.epoch < config.epochs and not run.stopping_early:
        started = time.perf_counter()
        tokens = _train_epoch(run, hooks, teacher, splits.validation)
        elapsed = time.perf_counter() - started
        metrics = {
            "train_loss": run.loss_sum / max(run.loss_count, 1),
            "tokens_per_second": tokens / elapsed if elapsed > 0 else 0.0,
        }
        # the rate the epoch's last update used, before an evaluation may cut it
        rate = run.learning_rate(logged=run.step % config.log_every == 0)
        if config.validates and config.validation_every is None:
            metrics.update(_validate(run, splits.validation, run.epoch + 1))
        elif not config.validates:
            run.schedule.observe(metrics["train_loss"])
        run.epoch, run.position = run.epoch + 1, 0
        hooks.report(run.step, {**metrics, **rate}, run.epoch / config.epochs)
        teacher.generate(run.model, run.step, run.epoch)
        if run.epoch < config.epochs and not run.stopping_early:
            run.loss_sum, run.loss_count = 0.0, 0
            hooks.save_checkpoint(run.step, run.checkpoint())
    return _finish(run, hooks, splits.test, metrics)


def _validate(run: Run, validation_ids: NDArray, epoch: float) -> dict[str, float]:
    """The validation figures of the weights as they are, handed to the run's best point and to
    the schedule. The state carried between training windows is put back: a validation inside
    an epoch must not change what the rest of the epoch trains on."""
    assert run.best is not None
    carry = run.model.get_state()
    figures = evaluate(run.model, run.config, validation_ids, "validation")
    run.model.set_state(carry)
    run.best.observe(figures, run.step, run.model.weights, epoch)
    run.schedule.observe(figures["validation_loss"])
    return figures


def _finish(
    run: Run, hooks: TrainingHooks, test_ids: NDArray, last_epoch: dict[str, float]
) -> TrainResult:
    """Load the weights to keep (the best validation point's, with restore_best), test them
    once, and report the test figures at the last step."""
    metrics = dict(last_epoch)
    if run.best is not None and run.best.value is not None:
        metrics.update(run.best.summary())
        if run.config.restore_best:
            run.model.load_weights(run.best.weights)
            metrics.update(run.best.figures)
    test = evaluate(run.model, run.config, test_ids)
    hooks.report(run.step, test, 1.0)
    return TrainResult(weights=run.model.weights(), metrics={**metrics, **test}, steps=run.step)


def _start(
    config: NextWordConfig,
    train_ids: NDArray,
    vocab_size: int,
    resume: Mapping[str, NDArray] | None,
    start: Start | None = None,
) -> Run:
    """A fresh run from the seed (from `start`'s weights when given), or the run a checkpoint
    saved."""
    rng = np.random.default_rng(config.seed)
    model = NextWordModel(config, vocab_size, rng)
    optimizer = make_optimizer(config.optimizer, config.learning_rate)
    batches: BpttBatches | ChunkBatches
    if config.mode == "bptt":
        batches = BpttBatches(train_ids, config.batch_size, config.seq_len)
    else:
        batches = ChunkBatches(train_ids, config.chunk_size, config.batch_size)
    schedule = lr_schedule_of(config, config.epochs * batches.count, batches.count)
    run = Run(config, model, optimizer, rng, batches, schedule, best=_best_point(config))
    if resume is not None:
        run.rng, run.step, run.epoch, run.position, run.loss_sum, run.loss_count = restore(
            resume, config, model, optimizer
        )
        schedule.load_state_dict(section("schedule.", resume))
        if run.best is not None:
            run.best.load_state_dict(resume)
    elif start is not None:
        start_from(start, model, optimizer)
    return run


def _best_point(config: NextWordConfig) -> BestPoint | None:
    """What the run's validations look for: early stopping's metric, else the validation loss."""
    if not config.validates:
        return None
    stopping = config.early_stopping
    metric = stopping.metric if stopping else VALIDATION_METRICS[0]
    return BestPoint(
        metric,
        higher_is_better=metric in HIGHER_IS_BETTER,
        min_delta=stopping.min_delta if stopping else 0.0,
        patience=stopping.patience if stopping else None,
        keep_weights=config.restore_best,
    )


def _train_epoch(run: Run, hooks: TrainingHooks, teacher: Teacher, validation_ids: NDArray) -> int:
    """The rest of the current epoch, from run.position (up to a validation that stops the run
    early); the number of tokens trained on."""
    config, model, batches = run.config, run.model, run.batches
    model.set_stateful(config.mode == "bptt")
    if isinstance(batches, ChunkBatches):
        batches.order = epoch_order(config.seed, run.epoch, batches.samples)
    if run.position == 0:
        model.reset_state()
        run.loss_sum, run.loss_count = 0.0, 0
    total_steps = config.epochs * batches.count
    tokens = 0
    for k in range(run.position, batches.count):
        if hooks.should_stop():
            raise TrainingStopped(f"stopped at step {run.step}")
        x, y = batches.get(k)
        trace = teacher.traces_at(run.step + 1)
        loss = model.train_step(x, y, run.rng, trace)
        check_finite(loss, run.step + 1)
        if config.clip_norm is not None:
            clip_grads(model.grads, config.clip_norm)
        run.optimizer.lr = run.schedule.rate(run.step)
        run.optimizer.update(model.params, model.grads)
        run.step += 1
        if trace:
            teacher.record_trace(model, run.step)
        tokens += x.size
        run.loss_sum, run.loss_count = run.loss_sum + loss, run.loss_count + 1
        progress = (run.epoch * batches.count + k + 1) / total_steps
        if run.step % config.log_every == 0:
            hooks.report(run.step, {"loss": loss, **run.learning_rate(logged=False)}, progress)
        if config.validates and config.validation_every and run.step % config.validation_every == 0:
            epoch = run.epoch + (k + 1) / batches.count
            hooks.report(run.step, _validate(run, validation_ids, epoch), progress)
            if run.stopping_early:
                break
        if hooks.checkpoint_due():
            run.position = k + 1
            hooks.save_checkpoint(run.step, run.checkpoint())
    return tokens
