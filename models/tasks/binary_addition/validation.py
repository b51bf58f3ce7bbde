"""Early stopping's validation for binary addition: a sample of pairs drawn from the job's seed
(on a generator of its own, so that training draws what it would without it), validated every
validation_every steps and at the last step, and the best point it keeps (models/selection.py).
The check of every pair stays the test, of the weights kept."""

from __future__ import annotations

from numpy.typing import NDArray

from rnnlab.models.selection import BestPoint
from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.data import validation_pairs
from rnnlab.models.tasks.binary_addition.evaluate import EvaluationSet, evaluate_set
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet

FIGURES = ("loss", "accuracy", "bit_accuracy")  # as evaluate_set names them, validation_ first


class Validation:
    def __init__(self, config: BinaryAdditionConfig, higher_is_better: frozenset[str]) -> None:
        stopping = config.early_stopping
        assert stopping is not None
        pairs = validation_pairs(config.seed, config.validation_samples, config.binary_dim)
        self.config = config
        self.pairs = EvaluationSet.build(*pairs, config.binary_dim)
        self.best = BestPoint(
            stopping.metric,
            higher_is_better=stopping.metric in higher_is_better,
            min_delta=stopping.min_delta,
            patience=stopping.patience,
            keep_weights=config.restore_best,
        )

    @property
    def stopping(self) -> bool:
        """Early stopping's patience ran out."""
        return self.best.exhausted

    def at(self, net: BinaryAdditionNet, step: int, last: bool) -> dict[str, float] | None:
        """The validation figures at `step` when a validation is due (the last step's weights
        are validated too: they may be the best), handed to the best point; else None."""
        if step % self.config.validation_every and not last:
            return None
        result = evaluate_set(net, self.config, self.pairs)
        assert result is not None
        figures = {f"validation_{name}": result[name] for name in FIGURES}
        self.best.observe(figures, step, net.weights)
        return figures

    def restore_best(self, net: BinaryAdditionNet, step: int) -> bool:
        """Load the best point's weights (restore_best) when they are not those of `step`, the
        last; True when it did."""
        best = self.best
        if not self.config.restore_best or best.value is None or best.step == step:
            return False
        net.load_weights(best.weights)
        return True

    def summary(self) -> dict[str, float]:
        """Where the weights kept come from, and (restore_best) their validation figures."""
        return {**self.best.summary(), **(self.best.figures if self.config.restore_best else {})}

    def state_dict(self) -> dict[str, NDArray]:
        return self.best.state_dict()
