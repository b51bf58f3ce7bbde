"""What a task tells the service about answering from a trained model (GET /predict, and
/generate for a task that generates): the query parameters that ask it, and the object that
answers them. Plain data and Python: the service's machinery (model cache, answer cache,
batching, threads) is generic over it, and never names a task.

A query's parameters with no default ask their task (``?a=..&b=..`` asks binary addition); the
others refine it (``k``). An ``Answerer`` is built once per loaded model; the service calls
``key`` (may it answer from its answer cache?), then ``prepare`` (check and pre-process, cheap;
ValueError when the query cannot be answered, which becomes a 422), then ``answer`` or
``answer_many`` on the event loop when ``inline`` says it is cheap, else in a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rnnlab.models.text import Dictionary


@dataclass(frozen=True)
class QueryParam:
    """A /predict query parameter: its name, type (int or str), words and bounds (the keyword
    arguments of a pydantic Field: ge, le, max_length, pattern)."""

    name: str
    kind: type
    description: str
    default: Any = None  # None: the parameter asks its task, and is then required
    bounds: Mapping[str, Any] = field(default_factory=dict)

    @property
    def asks(self) -> bool:
        return self.default is None


class Answerer:
    """Answers the queries of one trained model; subclasses override what they need."""

    # Whether the model carries state between calls: the service then runs one call at a time.
    stateful = False
    # Whether `answer_many` answers several queries in one pass cheaper than one by one: the
    # service then gathers the inline queries that arrive together.
    batched = False

    def cache_capacity(self, default: int) -> int:
        """How many encoded answers the service keeps for this model (`key` says which)."""
        return default

    def key(self, query: Mapping[str, Any]) -> Hashable | None:
        """What identifies this query's answer, for the answer cache; None: not kept."""
        return None

    def prepare(self, query: Mapping[str, Any]) -> Any:
        """The query checked and pre-processed; ValueError saying what to give instead."""
        return query

    def inline(self, prepared: Any) -> bool:
        """Whether the answer is cheap enough to compute on the service's event loop."""
        return True

    def answer(self, prepared: Any) -> dict[str, Any]:
        """The fields of the /predict answer (the service adds the model's id)."""
        return self.answer_many([prepared])[0]

    def answer_many(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        return [self.answer(one) for one in prepared]

    def generate(
        self, text: str, words: int, temperature: float, top_k: int | None, seed: int | None
    ) -> dict[str, Any]:
        """The fields of a /generate answer (a task that generates)."""
        raise NotImplementedError


@dataclass(frozen=True)
class TaskServing:
    """How a task answers: its query, an example of it ("a=37&b=45"), and the answerer of a
    predictor (what ``Task.predictor`` built) with its corpus dictionary (None without one)."""

    query: tuple[QueryParam, ...]
    example: str
    answerer: Callable[[Any, Dictionary | None], Answerer]
    generates: bool = False  # answers /generate

    @property
    def asking(self) -> tuple[str, ...]:
        """The names of the parameters that ask this task."""
        return tuple(param.name for param in self.query if param.asks)
