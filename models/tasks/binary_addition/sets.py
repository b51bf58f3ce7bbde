"""The pairs a binary-addition run sees: its batches (fresh random pairs at every step, or a
fixed training set seen for epochs, the notes' Keras protocol), every pair (or the fixed sample
beyond binary_dim 9) for the check that decides stop_at_accuracy, and, with a fixed training
set, the pairs it lacks as its held-out test set."""

from __future__ import annotations

from dataclasses import dataclass

from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import (
    TrainingSet,
    draw_pairs,
    evaluation_pairs,
    sample_batch,
)
from rnnlab.models.tasks.binary_addition.evaluate import EvaluationSet, HeldOutSet


@dataclass(frozen=True)
class RunSets:
    config: BinaryAdditionConfig
    every_pair: EvaluationSet
    training_set: TrainingSet | None  # None: fresh random pairs at every step
    test_set: HeldOutSet | None  # the pairs the training set lacks

    @classmethod
    def draw(cls, config: BinaryAdditionConfig, rng: Generator) -> RunSets:
        """A fixed training set is drawn from `rng`, the seed's stream: a resumed run, which
        starts from the seed again, draws the same set."""
        eval_pairs = evaluation_pairs(config.binary_dim)
        every_pair = EvaluationSet.build(*eval_pairs, config.binary_dim)
        if not config.train_samples:
            return cls(config, every_pair, None, None)
        pairs = draw_pairs(rng, config.train_samples, config.binary_dim)
        training_set = TrainingSet(*pairs, config.batch_size, config.binary_dim, config.seed)
        return cls(
            config,
            every_pair,
            training_set,
            HeldOutSet(every_pair, training_set.lacks(*eval_pairs)),
        )

    def batch(self, rng: Generator, step: int) -> tuple[NDArray, NDArray]:
        """Step `step`'s batch (steps count from 1)."""
        if self.training_set is None:
            return sample_batch(rng, self.config.batch_size, self.config.binary_dim)
        return self.training_set.batch(step - 1)

    def epoch_ends(self, step: int) -> bool:
        return self.training_set is not None and step % self.config.steps_per_epoch == 0
