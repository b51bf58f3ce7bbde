"""The serving adapters, one per task, by task name; and which task a query asks.

A /predict query's task is implied by its parameters (a and b, or text): each adapter declares
the parameters it answers (`Serving.query`), and `for_query` is the one place that reads them.
"""

from __future__ import annotations

from collections.abc import Collection

from models.tasks import TASKS
from service.errors import InvalidInput
from service.serving.adapter import Serving
from service.serving.binary_addition import BinaryAdditionServing
from service.serving.next_word import NextWordServing

ADAPTERS: dict[str, Serving] = {s.task: s for s in (BinaryAdditionServing(), NextWordServing())}
assert set(ADAPTERS) == set(TASKS), "every task in models.tasks.TASKS needs a serving adapter"


def _named(serving: Serving) -> str:
    return serving.task.replace("_", " ")


def for_query(given: Collection[str]) -> Serving:
    """The adapter whose query parameters are `given`; InvalidInput saying what to give."""
    asked = [s for s in ADAPTERS.values() if any(name in given for name in s.query)]
    if len(asked) > 1:
        choices = " or ".join(f"{s.asks} ({_named(s)})" for s in asked)
        raise InvalidInput(f"give either {choices}, not both")
    if not asked or not all(name in given for name in asked[0].query):
        choices = ", or ".join(
            f"{'both ' if len(s.query) == 2 else ''}{s.asks} (e.g. ?{s.example}) "
            f"for a {_named(s)} model"
            for s in ADAPTERS.values()
        )
        raise InvalidInput(f"give {choices}")
    return asked[0]
