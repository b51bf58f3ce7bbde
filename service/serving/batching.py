"""Next-word predictions of concurrent requests, answered in one batched pass.

The requests for one model that reach GET /predict in the same turn of the event loop wait in
its `NextWordBatcher`; the first of them schedules a flush for the loop's next turn, which runs
them all through `NextWordPredictor.most_likely_many`. Under load the LSTM's per-step cost and
the read of the output weights (1.9 MB at 3,899 words) are then paid once per batch instead of
once per request. A row's answer is the one its context gets alone, to float32 rounding (see
`NextWordPredictor.next_logits`). A request alone waits one turn of the loop: microseconds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from numpy.typing import NDArray
from starlette.concurrency import run_in_threadpool

from rnnlab.models.tasks.next_word import NextWordPredictor

Answer = tuple[NDArray, NDArray]  # ids of the top k words, their probabilities
Pending = tuple[Sequence[int], int, "asyncio.Future[Answer]"]  # context ids, k, its answer

# Contexts per pass: bounds a pass's time (and a request's wait) when hundreds arrive at once.
MAX_BATCH = 64


class NextWordBatcher:
    """The pending next-word requests of one loaded model; see the module docstring."""

    def __init__(self, predictor: NextWordPredictor, lock: threading.Lock) -> None:
        self._predictor = predictor
        self._lock = lock  # the model's: a long context runs it in a thread, carrying its state
        self._pending: list[Pending] = []
        self._in_threads: set[asyncio.Task[None]] = set()
        self.passes = 0  # batched passes run, and requests answered by them
        self.answered = 0

    async def most_likely(self, ids: Sequence[int], k: int) -> Answer:
        """`NextWordPredictor.most_likely(ids, k)`, computed with the other pending requests."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._pending.append((ids, k, future))
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
        else:  # a long context holds the model in a thread: wait in a thread, not on the loop
            task = asyncio.ensure_future(self._compute_in_thread(batch))
            self._in_threads.add(task)
            task.add_done_callback(self._in_threads.discard)

    async def _compute_in_thread(self, batch: list[Pending]) -> None:
        def locked() -> list[Answer] | BaseException:
            with self._lock:
                return self._compute(batch)

        _resolve(batch, await run_in_threadpool(locked))

    def _compute(self, batch: list[Pending]) -> list[Answer] | BaseException:
        try:
            answers = self._predictor.most_likely_many(
                [ids for ids, _, _ in batch], [k for _, k, _ in batch]
            )
        except Exception as error:  # a bug: every waiting request answers 500, none hangs
            return error
        self.passes += 1
        self.answered += len(batch)
        return answers


def _resolve(batch: list[Pending], outcome: list[Answer] | BaseException) -> None:
    for index, (_, _, future) in enumerate(batch):
        if future.done():  # the client went away and its request was cancelled
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[index])
