"""The servings, one per served task of rnnlab.models.tasks.TASKS, by task name; and which task
a query asks.

A /predict query's task is implied by its parameters (a and b, or text): each task declares the
parameters that ask it (`TaskServing.query`), and `for_query` is the one place that reads them.
"""

from __future__ import annotations

from collections.abc import Collection

from rnnlab.models.tasks import TASKS
from rnnlab.models.tasks.serving import QueryParam
from rnnlab.service.errors import InvalidInput
from rnnlab.service.serving.answering import Serving

SERVINGS: dict[str, Serving] = {
    name: Serving(task) for name, task in TASKS.items() if task.serving is not None
}


def _query_params() -> dict[str, QueryParam]:
    """Every task's query parameters by name, once each (tasks that share one agree on it)."""
    params: dict[str, QueryParam] = {}
    for serving in SERVINGS.values():
        for param in serving.spec.query:
            if params.setdefault(param.name, param) != param:
                raise ValueError(f"two tasks define the /predict parameter {param.name} apart")
    return params


QUERY_PARAMS = _query_params()
# Which serving a set of query parameters asks, and every parameter that asks one.
BY_QUERY = {frozenset(s.asking): s for s in SERVINGS.values()}
ASKING_PARAMETERS = tuple(name for s in SERVINGS.values() for name in s.asking)


def for_query(given: Collection[str]) -> Serving:
    """The serving whose query parameters are `given`; InvalidInput saying what to give."""
    serving = BY_QUERY.get(frozenset(given).intersection(ASKING_PARAMETERS))
    if serving is None:
        raise InvalidInput(_what_to_give(given))
    return serving


def generating() -> Serving:
    """The serving of the task that continues a text (/generate)."""
    return next(s for s in SERVINGS.values() if s.spec.generates)


def _what_to_give(given: Collection[str]) -> str:
    asked = [s for s in SERVINGS.values() if any(name in given for name in s.asking)]
    if len(asked) > 1:
        choices = " or ".join(f"{s.asks} ({s.named})" for s in asked)
        return f"give either {choices}, not both"
    choices = ", or ".join(
        f"{'both ' if len(s.asking) == 2 else ''}{s.asks} (e.g. ?{s.example}) for a {s.named} model"
        for s in SERVINGS.values()
    )
    return f"give {choices}"
