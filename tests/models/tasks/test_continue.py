"""A run that starts from a trained model's weights (`Start`): it begins where that model ended,
takes over its run's optimiser state only when a checkpoint is given, and resumes from its own
checkpoints bit for bit, as any run does."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rnnlab.models.tasks import TASKS
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.train import train as train_binary_addition
from rnnlab.models.tasks.next_word.config import NextWordConfig
from rnnlab.models.tasks.next_word.train import train as train_next_word
from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.models.training import Start, TrainingHooks
from tests.models.tasks.test_resume import LOG_EVERY, SENTENCE, check_resume

WORDS = preprocess(SENTENCE * 20)
DICTIONARY = build_dictionary(WORDS)
NEXT_WORD = NextWordConfig(
    hidden_size=8, embedding_size=6, batch_size=4, seq_len=5, epochs=3, log_every=1
)
BINARY = BinaryAdditionConfig(
    binary_dim=4, hidden_size=4, batch_size=8, iterations=30, log_every=1, stop_at_accuracy=1.0
)


class Checkpoints(TrainingHooks):
    """Records reports, and asks for a checkpoint at every step."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, dict[str, float]]] = []
        self.states: list[dict] = []

    def report(self, step, metrics, progress):
        self.reports.append((step, dict(metrics)))

    def checkpoint_due(self):
        return True

    def save_checkpoint(self, step, state):
        self.states.append({k: v.copy() for k, v in state.items()})


def next_word(config: NextWordConfig, hooks: TrainingHooks, resume=None, start=None):
    ids = DICTIONARY.encode(WORDS)
    return train_next_word(config, ids, DICTIONARY.size, hooks, resume, start=start)


def first_loss(hooks: Checkpoints) -> float:
    return hooks.reports[0][1]["loss"]


def assert_begins_near(child: float, parent: float, fresh: float) -> None:
    """The child's first loss is far nearer its parent's last than a fresh model's first."""
    assert abs(child - parent) < 0.2 * abs(fresh - parent), (child, parent, fresh)


def test_a_next_word_run_begins_where_its_parent_ended() -> None:
    parent_config = dataclasses.replace(NEXT_WORD, epochs=30)
    parent = next_word(parent_config, Checkpoints())
    fresh, child = Checkpoints(), Checkpoints()
    next_word(NEXT_WORD, fresh)
    next_word(NEXT_WORD, child, start=Start(parent.weights))
    assert_begins_near(first_loss(child), parent.metrics["train_loss"], first_loss(fresh))


def adam_steps(state: dict) -> int:
    return int(state["optim.t"])


def test_the_optimiser_state_carries_over_only_from_a_checkpoint() -> None:
    parent_hooks = Checkpoints()
    parent = next_word(NEXT_WORD, parent_hooks)
    parent_checkpoint = parent_hooks.states[-1]
    taken, fresh = Checkpoints(), Checkpoints()
    next_word(NEXT_WORD, taken, start=Start(parent.weights, parent_checkpoint))
    next_word(NEXT_WORD, fresh, start=Start(parent.weights))
    assert adam_steps(fresh.states[0]) == 1
    assert adam_steps(taken.states[0]) == adam_steps(parent_checkpoint) + 1
    assert taken.reports[0] == fresh.reports[0]  # the first loss is the parent's weights'


def test_a_binary_addition_run_begins_where_its_parent_ended() -> None:
    parent = train_binary_addition(dataclasses.replace(BINARY, iterations=400), Checkpoints())
    fresh, child = Checkpoints(), Checkpoints()
    train_binary_addition(BINARY, fresh)
    train_binary_addition(BINARY, child, start=Start(parent.weights))
    assert_begins_near(first_loss(child), parent.metrics["final_loss"], first_loss(fresh))


def test_weights_of_other_shapes_are_refused_with_their_names() -> None:
    parent = next_word(dataclasses.replace(NEXT_WORD, epochs=1), Checkpoints())
    with pytest.raises(ValueError, match="shape"):
        next_word(
            dataclasses.replace(NEXT_WORD, hidden_size=9),
            Checkpoints(),
            None,
            Start(parent.weights),
        )


def parent_weights_and_checkpoint(run) -> Start:
    hooks = Checkpoints()
    result = run(hooks, None, None)
    return Start(result.weights, hooks.states[len(hooks.states) // 2])


@pytest.mark.parametrize("checkpoint_after", [1, LOG_EVERY, LOG_EVERY + 1, 13])
def test_a_continued_next_word_run_resumes_bit_for_bit(checkpoint_after) -> None:
    config = dataclasses.replace(NEXT_WORD, log_every=LOG_EVERY)

    def run(hooks, resume, start):
        return next_word(config, hooks, resume, start)

    start = parent_weights_and_checkpoint(run)
    check_resume(lambda hooks, resume: run(hooks, resume, start), checkpoint_after)


@pytest.mark.parametrize("checkpoint_after", [1, LOG_EVERY + 1, 17])
def test_a_continued_binary_addition_run_resumes_bit_for_bit(checkpoint_after) -> None:
    config = dataclasses.replace(BINARY, log_every=LOG_EVERY, stop_at_accuracy=1.0)

    def run(hooks, resume, start):
        return train_binary_addition(config, hooks, resume, start)

    start = parent_weights_and_checkpoint(run)
    check_resume(lambda hooks, resume: run(hooks, resume, start), checkpoint_after)


@pytest.mark.parametrize("task", list(TASKS))
def test_a_task_names_real_hyperparameters_as_shape_defining(task) -> None:
    fields = set(TASKS[task].bounds())
    assert set(TASKS[task].shape_params) <= fields
    assert set(TASKS[task].optimizer_params) <= fields
    assert TASKS[task].can_continue


def test_the_weights_a_start_loads_are_copies() -> None:
    parent = next_word(dataclasses.replace(NEXT_WORD, epochs=1), Checkpoints())
    kept = {k: v.copy() for k, v in parent.weights.items()}
    next_word(NEXT_WORD, Checkpoints(), start=Start(parent.weights))
    for name, value in kept.items():
        np.testing.assert_array_equal(parent.weights[name], value)


def test_weights_of_the_fast_layers_start_the_textbook_ones() -> None:
    """A model trained on one implementation continues on the other: the same names, shapes
    and first loss."""
    parent = next_word(dataclasses.replace(NEXT_WORD, epochs=2), Checkpoints())
    fast, textbook = Checkpoints(), Checkpoints()
    next_word(NEXT_WORD, fast, start=Start(parent.weights))
    reference = dataclasses.replace(NEXT_WORD, implementation="reference")
    next_word(reference, textbook, start=Start(parent.weights))
    assert first_loss(textbook) == pytest.approx(first_loss(fast), rel=1e-5)
