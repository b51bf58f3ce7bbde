"""What a client is told of a job whose row says `running` but whose worker has not been heard
from for longer than RNNLAB_HEARTBEAT_TIMEOUT_SECONDS: it is not running, whatever the row says.

The row cannot always be corrected in time (the database may refuse every write, a disk being
full): the supervisor requeues it once it can. Meanwhile the job is shown as it is: queued,
awaiting retry, with a detail saying why."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, and_, or_

from rnnlab.service.store.tables import Job, JobStatus, utcnow


def awaiting_retry(job: Job, heartbeat_timeout_seconds: float) -> str | None:
    """Why a `running` row is shown as queued, or None when it really runs."""
    if job.status != JobStatus.RUNNING or job.heartbeat_at is None:
        return None
    silent = (utcnow() - job.heartbeat_at).total_seconds()
    if silent <= heartbeat_timeout_seconds:
        return None
    return (
        f"awaiting retry: its worker has not been heard from for {silent:.0f} s "
        f"(RNNLAB_HEARTBEAT_TIMEOUT_SECONDS={heartbeat_timeout_seconds:g}); it resumes from its "
        "last checkpoint once a worker can take it (GET /readyz says what stands in the way)"
    )


def shown_status(job: Job, heartbeat_timeout_seconds: float | None) -> tuple[str, str | None]:
    """(the status a client is shown, why when it differs from the row's): a running row whose
    worker is silent past the timeout is shown queued. No timeout: the row as it is."""
    if heartbeat_timeout_seconds is None:
        return job.status, None
    stalled = awaiting_retry(job, heartbeat_timeout_seconds)
    return (JobStatus.QUEUED, stalled) if stalled else (job.status, None)


def silent_running(heartbeat_timeout_seconds: float) -> ColumnElement[bool]:
    """The running rows whose worker is silent past the timeout: shown queued."""
    return and_(
        Job.status == JobStatus.RUNNING,
        Job.heartbeat_at < utcnow() - timedelta(seconds=heartbeat_timeout_seconds),
    )


def shown_as(status: str, heartbeat_timeout_seconds: float) -> ColumnElement[bool]:
    """The jobs a client sees with `status` (GET /jobs?status=), as `awaiting_retry` shows
    them: a running row whose worker is silent past the timeout counts as queued."""
    silent = silent_running(heartbeat_timeout_seconds)
    if status == JobStatus.QUEUED:
        return or_(Job.status == JobStatus.QUEUED, silent)
    if status == JobStatus.RUNNING:
        return and_(Job.status == JobStatus.RUNNING, ~silent)
    return Job.status == status
