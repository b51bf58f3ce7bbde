"""Answering a query from a loaded model, the same for every task: the answer cache first, then
the task's answerer, on the event loop when it says the query is cheap (batched with the other
queries of this turn of the loop when it can answer several at once), else in a thread; the
answer is encoded once, as JSON bytes, and kept when the answerer says it is worth keeping."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import anyio.to_thread

from rnnlab.models.tasks import Task
from rnnlab.service.errors import InvalidInput
from rnnlab.service.serving.loaded import LoadedModel


class Serving:
    """One task's serving: its /predict query (`asking`: the parameters that ask it)."""

    def __init__(self, task: Task) -> None:
        assert task.serving is not None
        self.task = task.name
        self.spec = task.serving
        self.asking = task.serving.asking
        self.example = task.serving.example

    @property
    def asks(self) -> str:
        """The query in words, for messages: "a and b", "text"."""
        return " and ".join(self.asking)

    @property
    def named(self) -> str:
        return self.task.replace("_", " ")

    async def predict(self, loaded: LoadedModel, query: Mapping[str, Any]) -> bytes:
        """The encoded /predict body answering `query`; InvalidInput when it cannot."""
        answerer, answers = loaded.answerer, loaded.answers
        key = answerer.key(query) if answers is not None else None
        if key is not None:
            body = answers.get(key)  # type: ignore[union-attr]
            if body is not None:
                return body
        try:
            fields = await _answer(loaded, answerer.prepare(query))
        except ValueError as error:
            raise InvalidInput(f"{error} (model {loaded.model_id})") from error
        body = encode({**fields, "model_id": loaded.model_id})
        if key is not None:
            answers.put(key, body)  # type: ignore[union-attr]
        return body

    async def generate(self, loaded: LoadedModel, **asked: Any) -> dict[str, Any]:
        """The fields of a /generate answer, always computed in a thread."""
        try:
            fields = await anyio.to_thread.run_sync(lambda: loaded.answerer.generate(**asked))
        except ValueError as error:
            raise InvalidInput(f"{error} (model {loaded.model_id})") from error
        return {**fields, "model_id": loaded.model_id}


async def _answer(loaded: LoadedModel, prepared: Any) -> dict[str, Any]:
    """A cheap query on the event loop (batched when the answerer can), a costly one, or one
    that would wait for a stateful model held in a thread, in a thread."""
    answerer = loaded.answerer
    if answerer.inline(prepared):
        if loaded.batcher is not None:
            return await loaded.batcher.answer(prepared)
        if not answerer.stateful:
            return answerer.answer(prepared)
    return await anyio.to_thread.run_sync(_locked(loaded, answerer.answer), prepared)


def _locked(loaded: LoadedModel, function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if not loaded.answerer.stateful:
        return function

    def locked(argument: Any) -> Any:
        with loaded.lock:
            return function(argument)

    return locked


def encode(fields: Mapping[str, Any]) -> bytes:
    """JSON as the service answers it: compact, UTF-8, and no NaN (a 500, never invalid JSON)."""
    return json.dumps(fields, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
