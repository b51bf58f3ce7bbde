"""What a job tells the server's console: one line when it starts, one per log step, one at its
end, each with the job's id (the worker processes write to the service's stderr)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rnnlab.service.errors import StorageUnavailable
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobStatus

log = logging.getLogger("rnnlab.jobs")

SHOWN_HYPERPARAMS = ("cell", "hidden_size", "optimizer", "learning_rate", "batch_size")


def started(job_id: int, task: str, hyperparams: Mapping[str, Any], resumed: bool) -> None:
    shown = " ".join(f"{k}={hyperparams[k]}" for k in SHOWN_HYPERPARAMS if k in hyperparams)
    log.info("job %s %s: %s %s", job_id, "resumed" if resumed else "started", task, shown)


def step(job_id: int, step: int, metrics: Mapping[str, float], progress: float) -> None:
    values = " ".join(f"{name}={value:.4g}" for name, value in metrics.items())
    log.info("job %s step %s: %s (%.0f%%)", job_id, step, values, progress * 100)


def ended(job_id: int, status: str, seconds: float, detail: str | None = None) -> None:
    log.info("job %s %s after %.1f s%s", job_id, status, seconds, f": {detail}" if detail else "")


def tell_end(db: Database, job_id: int, seconds: float) -> None:
    """The job's end as stored (a lost job has none: its new owner tells)."""
    try:
        with db.read() as session:
            job = session.get(Job, job_id)
    except StorageUnavailable:  # only the console's line is missed
        return
    if job is not None and job.status in JobStatus.FINISHED:
        detail = f"model {job.model.id}" if job.model is not None else job.error
        ended(job_id, job.status, seconds, detail)
