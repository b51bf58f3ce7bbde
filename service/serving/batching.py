"""Answers of concurrent requests for one model, computed in one batched pass.

The inline queries for one model that reach GET /predict in the same turn of the event loop
wait in its `Batcher`; the first of them schedules a flush for the loop's next turn, which runs
them all through the answerer's `answer_many`. Under load a pass's fixed costs (for a recurrent
model, each step and the read of the output weights) are then paid once per batch instead of
once per request. A request alone waits one turn of the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

import anyio.to_thread

Fields = dict[str, Any]
Pending = tuple[Any, "asyncio.Future[Fields]"]  # a prepared query, its answer

# Queries per pass: bounds a pass's time (and a request's wait) when hundreds arrive at once.
MAX_BATCH = 64


class Batcher:
    """The pending queries of one loaded model; see the module docstring."""

    def __init__(
        self, answer_many: Callable[[Sequence[Any]], list[Fields]], lock: threading.Lock
    ) -> None:
        self._answer_many = answer_many
        self._lock = lock  # the model's: a long query runs it in a thread, carrying its state
        self._pending: list[Pending] = []
        self._in_threads: set[asyncio.Task[None]] = set()
        self.passes = 0  # batched passes run, and requests answered by them
        self.answered = 0

    async def answer(self, prepared: Any) -> Fields:
        """`answer_many([prepared])[0]`, computed with the other pending queries."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Fields] = loop.create_future()
        self._pending.append((prepared, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        if self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        if self._lock.acquire(blocking=False):
            try:
                outcome = self._compute(batch)
            finally:
                self._lock.release()
            _resolve(batch, outcome)
        else:  # a long query holds the model in a thread: wait in a thread, not on the loop
            task = asyncio.ensure_future(self._compute_in_thread(batch))
            self._in_threads.add(task)
            task.add_done_callback(self._in_threads.discard)

    async def _compute_in_thread(self, batch: list[Pending]) -> None:
        def locked() -> list[Fields] | BaseException:
            with self._lock:
                return self._compute(batch)

        _resolve(batch, await anyio.to_thread.run_sync(locked))

    def _compute(self, batch: list[Pending]) -> list[Fields] | BaseException:
        try:
            answers = self._answer_many([prepared for prepared, _ in batch])
        except Exception as error:  # every waiting request gets it (a 422 or a 500), none hangs
            return error
        self.passes += 1
        self.answered += len(batch)
        return answers


def _resolve(batch: list[Pending], outcome: list[Fields] | BaseException) -> None:
    for index, (_, future) in enumerate(batch):
        if future.done():  # the client went away and its request was cancelled
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[index])
