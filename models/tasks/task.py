"""What the registry holds for a task: everything the service needs, behind one shape.

The service looks a task up by name (rnnlab.models.tasks.TASKS) and calls these; it never
branches on a task's name. A task that trains on a corpus says so (``needs_corpus``), and then
receives its token ids in a ``Corpus``; the others receive None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from numpy.typing import NDArray

from rnnlab.models.tasks import config as config_tools
from rnnlab.models.tasks.serving import TaskServing
from rnnlab.models.training import TrainResult


class Corpus(NamedTuple):
    """A corpus as a task sees it: its token ids (None when only its size matters), sizes and
    its words by id (to spell generated text; None when unknown)."""

    token_ids: NDArray | None
    tokens: int
    vocabulary_size: int
    words: Sequence[str] | None = None


@dataclass(frozen=True)
class Task:
    name: str
    config_class: type
    # train(config, corpus or None, hooks, resume state or None[, start]) -> TrainResult;
    # a task that names its shape_params also takes `start` (a models.training.Start)
    train: Callable[..., TrainResult]
    # predictor(config, weights, corpus or None): the object that answers from saved weights
    predictor: Callable[[Any, Mapping[str, NDArray], Corpus | None], Any]
    # memory_bytes(config, corpus or None): an upper bound of a job's memory, checked up front
    memory_bytes: Callable[[Any, Corpus | None], int]
    metric_names: tuple[str, ...]  # logged while training, on the step axis
    final_metric_names: tuple[str, ...]  # the figures of a trained model
    # What runs are compared by: the final figures a sweep may rank by and the step metrics its
    # curves and early stopping may follow, the first of each being the default; and which of
    # all these grow as the model gets better (the others shrink).
    ranked_metrics: tuple[str, ...] = ()
    curve_metrics: tuple[str, ...] = ()
    higher_is_better_metrics: frozenset[str] = frozenset()
    needs_corpus: bool = False
    summary: str = ""  # one line on what a model of it learns, for help texts
    # min_tokens(config): the fewest corpus tokens a job of `config` trains on (corpus tasks)
    min_tokens: Callable[[Any], int] | None = None
    # How it answers from a trained model (/predict); None: it is trained, never served.
    serving: TaskServing | None = None
    # export_graph(config, weights, dictionary words or None): the model as a portable graph
    # (models/tasks/export.py's GraphSpec); None: it has no export.
    export_graph: Callable[[Any, Mapping[str, NDArray], Sequence[str] | None], Any] | None = None
    # step_tokens(config): the tokens one training step reads (tasks that read tokens)
    step_tokens: Callable[[Any], int] | None = None
    # The hyperparameters that fix the weights' shapes (and names): a model continued from
    # another must have the same. A task that names them can continue a model: its train takes
    # `start`. And those that fix what the optimiser's state holds: the parent's checkpointed
    # optimiser state carries over only when they are the same too.
    shape_params: tuple[str, ...] = ()
    optimizer_params: tuple[str, ...] = ()

    def make_config(self, hyperparams: Mapping[str, Any]) -> Any:
        """The config of stored hyperparameters (names it does not know are left out)."""
        return config_tools.from_stored(self.config_class, hyperparams)

    def bounds(self) -> dict[str, Mapping[str, Any]]:
        """Each hyperparameter's kind, default and bounds (see rnnlab.models.tasks.config)."""
        return config_tools.bounds(self.config_class)

    @property
    def default_ranked_metric(self) -> str:
        return self.ranked_metrics[0]

    @property
    def default_curve_metric(self) -> str:
        return self.curve_metrics[0]

    def tokens_per_step(self, config: Any) -> int | None:
        """The tokens one training step of `config` reads; None for a task without tokens."""
        return None if self.step_tokens is None else self.step_tokens(config)

    @property
    def can_continue(self) -> bool:
        """Whether a job of this task can start from a trained model's weights."""
        return bool(self.shape_params)

    def higher_is_better(self, metric: str) -> bool:
        """Whether a larger value of `metric` means a better model (accuracy), not a worse one."""
        return metric in self.higher_is_better_metrics
