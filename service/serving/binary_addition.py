"""Serving a binary-addition model: /predict?a=37&b=45, from a table of every answer when the
model is small enough (`SumTable`), else a forward pass."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnlab.models.tasks import TASKS
from rnnlab.models.text import Dictionary
from rnnlab.service.errors import InvalidInput
from rnnlab.service.serving.answers import CacheStats
from rnnlab.service.serving.base import Serving
from rnnlab.service.serving.loaded import LoadedModel, SumTable

# The largest addend any binary-addition model takes (the largest binary_dim); each model takes
# 0..2^(binary_dim - 1) - 1, and says so in its 422.
MAX_OPERAND = 2 ** (TASKS["binary_addition"].bounds()["binary_dim"]["le"] - 1) - 1


class BinaryAdditionServing(Serving):
    task = "binary_addition"
    query = ("a", "b")
    example = "a=37&b=45"

    def load(
        self,
        model_id: int,
        config: Any,
        predictor: Any,
        dictionary: Dictionary | None,
        answers_per_model: int,
        answer_stats: CacheStats | None = None,
    ) -> LoadedModel:
        return LoadedModel(
            model_id, self.task, config, predictor, sum_table=SumTable.build(predictor)
        )

    async def predict(self, loaded: LoadedModel, query: Mapping[str, Any]) -> bytes:
        """A BinaryAdditionPrediction."""
        try:
            return loaded.sum_body(query["a"], query["b"])
        except ValueError as error:
            raise InvalidInput(f"{error} (model {loaded.model_id})") from error
