"""The metrics a sweep compares and how a run ended. Which metrics a task has, its defaults and
which way is better are the task's to say (rnnlab.models.tasks.Task); this module checks a
request's metric against them."""

from __future__ import annotations

import re

from rnnlab.models.tasks import TASKS
from rnnlab.service.errors import InvalidInput
from rnnlab.service.jobs.early_stop import EARLY_STOPPED

# The messages of rnnlab.models.training.TrainingDiverged (check_finite, and overflow in a step).
DIVERGED = re.compile(r"^(loss became (NaN|infinite)|numbers overflowed)")


def higher_is_better(metric: str) -> bool:
    """Whether a larger `metric` is better, for a caller that knows only the metric's name:
    asked of every task (no two tasks disagree about a metric they share)."""
    return any(task.higher_is_better(metric) for task in TASKS.values())


def is_diverged(error: str | None) -> bool:
    return error is not None and DIVERGED.match(error) is not None


def is_early_stopped(error: str | None) -> bool:
    return error is not None and error.startswith(EARLY_STOPPED)


def ranked_metric(task: str, metric: str | None) -> str:
    """`metric` (default: the task's first ranked metric) checked to be one a sweep of `task`
    ranks by; InvalidInput listing them when it is not."""
    known = TASKS[task].ranked_metrics
    chosen = metric or TASKS[task].default_ranked_metric
    if chosen not in known:
        raise InvalidInput(f"unknown metric {chosen!r} for {task}: use one of {', '.join(known)}")
    return chosen


def curve_metric(task: str, metric: str | None) -> str:
    """`metric` (default: the task's first curve metric) checked to be one logged along the
    steps, which curves and early stopping follow; InvalidInput listing them when it is not."""
    known = TASKS[task].curve_metrics
    chosen = metric or TASKS[task].default_curve_metric
    if chosen not in known:
        raise InvalidInput(
            f"unknown metric {chosen!r} for {task}'s curves: use one of {', '.join(known)}"
        )
    return chosen
