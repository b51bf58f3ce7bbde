"""Training a next-word model: epochs over the training tokens, a test pass after each."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.optim import Optimizer, clip_grads, make_optimizer
from rnnlab.models.tasks.next_word.checkpoint import checkpoint, restore, start_from
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.data import (
    BpttBatches,
    ChunkBatches,
    as_ids,
    enough_tokens,
    epoch_order,
    min_tokens,
    split_tokens,
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
)

METRIC_NAMES = (
    "loss",
    "train_loss",
    "test_loss",
    "test_perplexity",
    "test_accuracy",
    "tokens_per_second",
)
FINAL_METRIC_NAMES = METRIC_NAMES[1:]


def evaluate(model: NextWordModel, config: NextWordConfig, test_ids: NDArray) -> dict[str, float]:
    """Test loss, perplexity (exp of mean cross-entropy) and top-1 accuracy, window by window."""
    model.reset_state()
    model.set_stateful(config.mode == "bptt")
    loss_sum, hits, count = 0.0, 0, 0
    for x, y in test_batches(config, test_ids):
        batch_loss, batch_hits, batch_count = model.evaluate_batch(x, y)
        loss_sum, hits, count = loss_sum + batch_loss, hits + batch_hits, count + batch_count
    model.reset_state()
    test_loss = loss_sum / count
    return {
        "test_loss": test_loss,
        "test_perplexity": float(np.exp(min(test_loss, 700.0))),
        "test_accuracy": hits / count,
    }


@dataclass
class Run:
    """What a run carries from step to step (all of it goes into a checkpoint)."""

    config: NextWordConfig
    model: NextWordModel
    optimizer: Optimizer
    rng: Generator
    batches: BpttBatches | ChunkBatches
    step: int = 0
    epoch: int = 0
    position: int = 0  # the next batch of the epoch
    loss_sum: float = 0.0
    loss_count: int = 0

    def checkpoint(self) -> dict[str, NDArray]:
        c = self
        state = (c.step, c.epoch, c.position, c.loss_sum, c.loss_count)
        return checkpoint(c.config, c.model, c.optimizer, c.rng, *state)


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

    Calls hooks.report per epoch (train_loss, test_loss, test_perplexity, test_accuracy,
    tokens_per_second) and every log_every steps ({"loss"}); hooks.should_stop() and
    hooks.checkpoint_due() every step; hooks.save_checkpoint at every epoch end but the last.
    ``resume`` (a checkpoint's state) continues bit for bit; else ``start`` (a trained
    model's weights) replaces the seed's initial weights.
    """
    hooks = hooks or TrainingHooks()
    ids = as_ids(token_ids, vocab_size)
    if not enough_tokens(config, len(ids)):
        raise ValueError(
            f"the corpus has {len(ids)} tokens; these settings need at least {min_tokens(config)} "
            f"(lower batch_size or {'seq_len' if config.mode == 'bptt' else 'chunk_size'})"
        )
    n_train = split_tokens(config, len(ids))
    train_ids, test_ids = ids[:n_train], ids[n_train:]
    run = _start(config, train_ids, vocab_size, resume, start)
    teacher = Teacher(config, hooks, test_ids, words)
    metrics: dict[str, float] = {}
    while run.epoch < config.epochs:
        started, tokens = time.perf_counter(), _train_epoch(run, hooks, teacher)
        elapsed = time.perf_counter() - started
        metrics = {
            "train_loss": run.loss_sum / max(run.loss_count, 1),
            **evaluate(run.model, config, test_ids),
        }
        metrics["tokens_per_second"] = tokens / elapsed if elapsed > 0 else 0.0
        run.epoch, run.position = run.epoch + 1, 0
        hooks.report(run.step, metrics, run.epoch / config.epochs)
        teacher.generate(run.model, run.step, run.epoch)
        if run.epoch < config.epochs:
            run.loss_sum, run.loss_count = 0.0, 0
            hooks.save_checkpoint(run.step, run.checkpoint())
    return TrainResult(weights=run.model.weights(), metrics=metrics, steps=run.step)


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
    run = Run(config, model, optimizer, rng, batches)
    if resume is not None:
        run.rng, run.step, run.epoch, run.position, run.loss_sum, run.loss_count = restore(
            resume, config, model, optimizer
        )
    elif start is not None:
        start_from(start, model, optimizer)
    return run


def _train_epoch(run: Run, hooks: TrainingHooks, teacher: Teacher) -> int:
    """The rest of the current epoch, from run.position; the number of tokens trained on."""
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
        run.optimizer.update(model.params, model.grads)
        run.step += 1
        if trace:
            teacher.record_trace(model, run.step)
        tokens += x.size
        run.loss_sum, run.loss_count = run.loss_sum + loss, run.loss_count + 1
        if run.step % config.log_every == 0:
            hooks.report(
                run.step, {"loss": loss}, (run.epoch * batches.count + k + 1) / total_steps
            )
        if hooks.checkpoint_due():
            run.position = k + 1
            hooks.save_checkpoint(run.step, run.checkpoint())
    return tokens
