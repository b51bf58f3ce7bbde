"""The serving adapters, one per task, by task name; and which task a query asks.

A /predict query's task is implied by its parameters (a and b, or text): each adapter declares
the parameters it answers (`Serving.query`), and `for_query` is the one place that reads them.
"""

from __future__ import annotations

from collections.abc import Collection

from rnnlab.models.tasks import TASKS
from rnnlab.service.errors import InvalidInput
from rnnlab.service.serving.base import Serving
from rnnlab.service.serving.binary_addition import BinaryAdditionServing
from rnnlab.service.serving.next_word import NextWordServing

ADAPTERS: dict[str, Serving] = {s.task: s for s in (BinaryAdditionServing(), NextWordServing())}
assert set(ADAPTERS) == set(TASKS), "every task in rnnlab.models.tasks.TASKS needs a serving adapter"


def _named(serving: Serving) -> str:
    return serving.task.replace("_", " ")


# Which adapter a set of query parameters asks, and every parameter that asks one.
BY_QUERY = {frozenset(s.query): s for s in ADAPTERS.values()}
QUERY_PARAMETERS = tuple(name for s in ADAPTERS.values() for name in s.query)


def for_query(given: Collection[str]) -> Serving:
    """The adapter whose query parameters are `given`; InvalidInput saying what to give."""
    serving = BY_QUERY.get(frozenset(given).intersection(QUERY_PARAMETERS))
    if serving is None:
        raise InvalidInput(_what_to_give(given))
    return serving


def _what_to_give(given: Collection[str]) -> str:
    asked = [s for s in ADAPTERS.values() if any(name in given for name in s.query)]
    if len(asked) > 1:
        choices = " or ".join(f"{s.asks} ({_named(s)})" for s in asked)
        return f"give either {choices}, not both"
    choices = ", or ".join(
        f"{'both ' if len(s.query) == 2 else ''}{s.asks} (e.g. ?{s.example}) "
        f"for a {_named(s)} model"
        for s in ADAPTERS.values()
    )
    return f"give {choices}"
