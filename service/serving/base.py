"""What a task's serving adapter provides: the /predict query parameters it answers, how it
wraps a task's predictor for serving, and how it turns a query into an encoded answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnlab.models.text import Dictionary
from rnnlab.service.serving.answers import CacheStats
from rnnlab.service.serving.loaded import LoadedModel


class Serving:
    """One task's serving; subclasses set `task`, `query`, `example` and override the methods."""

    task: str  # its name in rnnlab.models.tasks.TASKS
    query: tuple[str, ...]  # the /predict parameters that ask this task, all required
    example: str  # a query, as in the messages: "a=37&b=45"

    @property
    def asks(self) -> str:
        """The query in words, for messages: "a and b", "text"."""
        return " and ".join(self.query)

    def load(
        self,
        model_id: int,
        config: Any,
        predictor: Any,
        dictionary: Dictionary | None,
        answers_per_model: int,
        answer_stats: CacheStats | None = None,
    ) -> LoadedModel:
        """The LoadedModel of a predictor just built from saved weights."""
        return LoadedModel(model_id, self.task, config, predictor, dictionary)

    async def predict(self, loaded: LoadedModel, query: Mapping[str, Any]) -> bytes:
        """The encoded /predict body answering `query`; InvalidInput when it cannot."""
        raise NotImplementedError
