"""How the web process tells idle worker processes that a job was queued."""

from __future__ import annotations

from multiprocessing.context import BaseContext


class WakeUp:
    """One wake-up per queued job, taken by whichever idle worker waits first.

    A counting semaphore shared with the workers: `notify` posts it in the caller's own thread,
    so a waiting worker runs at once. A `multiprocessing.Queue` hands its items to a feeder
    thread, which must first win the GIL from the busy event loop (it waits out Python's switch
    interval): the job then sat in the queue before any worker heard of it.
    Wake-ups posted while every worker is busy are kept; a spare one only costs a worker an
    empty claim.
    """

    def __init__(self, context: BaseContext) -> None:
        self._posted = context.Semaphore(0)

    def notify(self) -> None:
        self._posted.release()

    def wait(self, timeout: float) -> bool:
        """True once a wake-up was posted (and taken by this caller); False after `timeout` s."""
        return self._posted.acquire(timeout=timeout)
