"""The training loops' half of "no metric lost or doubled on resume": the run that was cut off
reported steps up to some point; resumed from its checkpoint at step S, the run reports exactly the
uninterrupted run's reports after S, step for step and value for value. With the service dropping
the cut-off run's metrics after S (tests/service/jobs), the series comes out whole.

Checkpoints at the first step, just before, at and just after a log step, mid-epoch and at an
epoch end: a slip that shows only where the checkpoint falls on an epoch end is caught here.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.train import train as train_binary_addition
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.train import train as train_next_word
from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.models.training import TrainingHooks, TrainingStopped

LOG_EVERY = 4


class CutOff(TrainingHooks):
    """Records reports; asks for one checkpoint after `checkpoint_after` steps, stops after it."""

    def __init__(self, checkpoint_after: int | None = None) -> None:
        self.reports: list[tuple[int, dict[str, float]]] = []
        self.checkpoints: list[tuple[int, dict]] = []
        self.calls = 0
        self.checkpoint_after = checkpoint_after

    def report(self, step, metrics, progress):
        self.reports.append((step, dict(metrics)))

    def should_stop(self):
        self.calls += 1
        return self.checkpoint_after is not None and self.calls > self.checkpoint_after + 3

    def checkpoint_due(self):
        return self.calls == self.checkpoint_after

    def save_checkpoint(self, step, state):
        self.checkpoints.append((step, {k: v.copy() for k, v in state.items()}))


def without_timing(reports):
    return [(s, {k: v for k, v in m.items() if k != "tokens_per_second"}) for s, m in reports]


def check_resume(run, checkpoint_after: int) -> None:
    reference = CutOff()
    run(reference, None)
    cut = CutOff(checkpoint_after)
    with pytest.raises(TrainingStopped):
        run(cut, None)
    step, state = cut.checkpoints[-1]  # the last one written: what the service would resume from
    # what the lost run reported up to its checkpoint is the reference's start
    kept = [r for r in cut.reports if r[0] <= step]
    assert without_timing(kept) == without_timing([r for r in reference.reports if r[0] <= step])
    resumed = CutOff()
    run(resumed, state)
    assert without_timing(resumed.reports) == without_timing(
        [r for r in reference.reports if r[0] > step]
    ), f"checkpoint at step {step}"


SENTENCE = "the quick brown fox jumps over the lazy dog and runs away "


def next_word_run(hooks, resume, **options):
    words = preprocess(SENTENCE * 20)
    dictionary = build_dictionary(words)
    small = dict(hidden_size=8, embedding_size=6, batch_size=4, seq_len=5, epochs=3)
    config = NextWordConfig(**{**small, "log_every": LOG_EVERY, **options})
    return train_next_word(config, dictionary.encode(words), dictionary.size, hooks, resume)


DROPOUT = dict(dropout=0.5, recurrent_dropout=0.3)


def steps_per_epoch() -> int:
    n_test = int(240 * 0.2)  # 12 words x 20
    n_train = 240 - n_test - int((240 - n_test) * 0.1)
    return -(-((n_train - 1) // 4) // 5)


@pytest.mark.parametrize("offset", [-1, 0, 1, 3])
def test_next_word_resumes_its_reports_around_an_epoch_end(offset) -> None:
    check_resume(next_word_run, steps_per_epoch() + offset)


@pytest.mark.parametrize("checkpoint_after", [1, LOG_EVERY - 1, LOG_EVERY, LOG_EVERY + 1])
def test_next_word_resumes_its_reports_around_a_log_step(checkpoint_after) -> None:
    check_resume(next_word_run, checkpoint_after)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("offset", [0, 3])
def test_next_word_with_dropout_resumes_its_reports(cell, offset) -> None:
    check_resume(partial(next_word_run, cell=cell, **DROPOUT), steps_per_epoch() + offset)


def validating_next_word_run(hooks, resume):
    """Validations within epochs (every 3 steps) that early stopping follows."""
    stopping = {"metric": "validation_accuracy", "patience": 50}
    return next_word_run(hooks, resume, validation_every=3, early_stopping=stopping)


@pytest.mark.parametrize("checkpoint_after", [2, 3, 4, steps_per_epoch(), steps_per_epoch() + 1])
def test_next_word_resumes_its_validations_around_a_validation_step(checkpoint_after) -> None:
    check_resume(validating_next_word_run, checkpoint_after)


def binary_run(hooks, resume, **options):
    config = BinaryAdditionConfig(
        binary_dim=4,
        hidden_size=4,
        batch_size=8,
        iterations=30,
        log_every=LOG_EVERY,
        stop_at_accuracy=1.0,
        **options,
    )
    return train_binary_addition(config, hooks, resume)


@pytest.mark.parametrize("checkpoint_after", [1, LOG_EVERY - 1, LOG_EVERY, LOG_EVERY + 1, 17])
def test_binary_addition_resumes_its_reports_from_any_step(checkpoint_after) -> None:
    check_resume(binary_run, checkpoint_after)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("checkpoint_after", [LOG_EVERY, 17])
def test_binary_addition_with_dropout_resumes_its_reports(cell, checkpoint_after) -> None:
    check_resume(partial(binary_run, cell=cell, **DROPOUT), checkpoint_after)


def validating_binary_run(hooks, resume):
    stopping = {"metric": "validation_bit_accuracy", "patience": 20}
    return binary_run(hooks, resume, early_stopping=stopping, validation_every=3)


@pytest.mark.parametrize("checkpoint_after", [1, 2, 3, 4, 17])
def test_binary_addition_resumes_its_validations_from_any_step(checkpoint_after) -> None:
    check_resume(validating_binary_run, checkpoint_after)


# Every option that carries state between steps at once: dropout's masks, a plateau schedule
# (patience 0: it cuts at almost every evaluation), early stopping's best point and, for binary
# addition, a fixed training set seen for epochs.
EVERYTHING_ON = dict(DROPOUT, lr_schedule="plateau", lr_patience=0, validation_every=3)


@pytest.mark.parametrize("checkpoint_after", [2, 3, steps_per_epoch(), steps_per_epoch() + 1])
def test_next_word_with_every_option_on_resumes_its_reports(checkpoint_after) -> None:
    stopping = {"metric": "validation_loss", "patience": 50}
    run = partial(next_word_run, early_stopping=stopping, **EVERYTHING_ON)
    check_resume(run, checkpoint_after)


@pytest.mark.parametrize("checkpoint_after", [2, steps_per_epoch() + 1])
def test_next_word_with_tied_weights_and_every_option_on_resumes_its_reports(
    checkpoint_after,
) -> None:
    stopping = {"metric": "validation_loss", "patience": 50}
    tied = dict(tie_weights=True, embedding_size=8)
    run = partial(next_word_run, early_stopping=stopping, **tied, **EVERYTHING_ON)
    check_resume(run, checkpoint_after)


@pytest.mark.parametrize("checkpoint_after", [1, 3, 5, 17])
def test_binary_addition_with_every_option_on_resumes_its_reports(checkpoint_after) -> None:
    stopping = {"metric": "validation_loss", "patience": 20}
    run = partial(binary_run, early_stopping=stopping, train_samples=40, epochs=6, **EVERYTHING_ON)
    check_resume(run, checkpoint_after)


def test_the_cut_off_run_really_reported_past_its_checkpoint() -> None:
    """Otherwise dropping its metrics after the checkpoint would be untested by the above."""
    cut = CutOff(LOG_EVERY - 1)
    with pytest.raises(TrainingStopped):
        binary_run(cut, None)
    step, _ = cut.checkpoints[-1]
    assert any(s > step for s, _ in cut.reports)
    assert np.isfinite([m["loss"] for _, m in cut.reports]).all()
