"""What the web process asks of whatever runs its jobs, and which one the settings choose.

`local` (the default): worker processes that `rnnlab serve` spawns on this machine.
`celery`: `rnnlab worker` processes anywhere, reached through a broker; imported only when
chosen, so that the default needs nothing beyond the base install.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rnnlab.service.settings import Settings
from rnnlab.service.store.db import Database


class Executor(Protocol):
    restarts: int  # worker processes replaced after they died (rnnlab_worker_restarts_total)

    def start(self) -> None:
        """Begin running queued jobs (those left from a previous start included)."""

    def submitted(self, job_ids: Sequence[int]) -> None:
        """These jobs were just committed as queued: have them run. Never raises for a
        transport's failure: the job is stored, and the executor catches up with it later."""

    def not_ready(self) -> str | None:
        """Why jobs cannot run now (GET /readyz), or None."""

    def stop(self) -> None:
        """Stop taking jobs; running ones checkpoint and go back to the queue."""


def make_executor(settings: Settings, db: Database) -> Executor:
    if settings.executor == "celery":
        from rnnlab.service.jobs.celery.executor import CeleryExecutor

        return CeleryExecutor(settings, db)
    from rnnlab.service.jobs.local.executor import LocalExecutor

    return LocalExecutor(settings, db)
