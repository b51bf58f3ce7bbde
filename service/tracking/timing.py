"""How long a job has run and how long it still needs, from its timestamps and progress."""

from __future__ import annotations

from datetime import datetime

from rnnlab.service.store.tables import Job, JobStatus, utcnow


def elapsed_seconds(started_at: datetime | None, finished_at: datetime | None) -> float | None:
    """Seconds since the job first started (to its end once finished); None before it starts."""
    if started_at is None:
        return None
    end = finished_at or utcnow()
    return round(max((end - started_at).total_seconds(), 0.0), 3)


def eta_seconds(status: str, progress: float, elapsed: float | None) -> float | None:
    """Seconds still to go at the pace so far; 0 once finished, None while no pace is known.

    A linear extrapolation of progress: a job whose steps all cost the same (every task here)
    is predicted well after its first log step.
    """
    if status in JobStatus.FINISHED:
        return 0.0
    if status != JobStatus.RUNNING or elapsed is None or progress <= 0:
        return None
    return round(elapsed * (1 - progress) / progress, 3)


def job_timing(job: Job) -> dict[str, float | None]:
    elapsed = elapsed_seconds(job.started_at, job.finished_at)
    return {
        "elapsed_seconds": elapsed,
        "eta_seconds": eta_seconds(job.status, job.progress, elapsed),
    }
