"""What a job's event stream is made of, read from the database: the job's state and the records
it stored since a cursor.

A stream is a log of records (metric points, and the teaching records: sums, bit accuracy,
per-time-step gradient norms, generated text) interleaved with the job's state (status,
progress). Every event carries a `Cursor` as its SSE id: the job's status version and, per
source, the last row id sent. All only grow while a job lives, so a client that reconnects
with `Last-Event-ID` is sent the rows past its cursor (nothing twice, nothing missed) and the
state only when it changed.

A source (the teaching records are one: a table of JSON records a job stores beside its
metrics, written in the same flush) joins by: a field of `Cursor` (its last row id, a part of
the id), a tuple in `Update` filled by `read_update` past that id, and the events `JobView`
makes of its rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from rnnlab.service.errors import InvalidInput
from rnnlab.service.schemas.ids import MAX_ID
from rnnlab.service.store.tables import Job, JobRecord, JobStatus, Metric
from rnnlab.service.tracking.liveness import shown_status
from rnnlab.service.tracking.timing import elapsed_seconds, eta_seconds

READ_BATCH = 5000  # rows per read: a long run's backlog comes in several reads, never one huge one

# Order of the states one attempt goes through; a requeued job's next attempt starts above them.
_RANKS = {JobStatus.RUNNING: 1, JobStatus.QUEUED: 3}
_RANK_FINISHED = 4
_RANKS_PER_ATTEMPT = 5


def status_version(status: str, attempt: int, cancel_requested: bool) -> int:
    """A number that grows with each status change of a job: queued (3) -> running (6) ->
    cancel requested (7) -> finished (9); a retry runs at 11, and so on."""
    rank = _RANK_FINISHED if status in JobStatus.FINISHED else _RANKS[status]
    if status == JobStatus.RUNNING and cancel_requested:
        rank += 1
    return _RANKS_PER_ATTEMPT * attempt + rank


@dataclass(frozen=True)
class Cursor:
    """Where a client is in a job's stream; written `version.metric_id.record_id` as the SSE id
    (an id of two parts, from before records were streamed, reads as record id 0).

    Version 0 means no state sent yet: every status version is above it (`status_version`), and
    it is written like any other id, so the rows a stream sends before its first status (those
    of a job already finished, whose status comes after its rows) carry ids it takes back."""

    version: int = 0
    metric_id: int = 0
    record_id: int = 0

    def __str__(self) -> str:
        return f"{self.version}.{self.metric_id}.{self.record_id}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        parts = text.strip().split(".")
        if len(parts) not in (2, 3) or not all(part.isdigit() and len(part) < 19 for part in parts):
            raise InvalidInput(
                f"Last-Event-ID {text[:40]!r} is not an id of this stream: send back the `id` of "
                "the last event received (`<version>.<metric id>.<record id>`), or no header "
                "to start over"
            )
        cursor = cls(*(int(part) for part in parts))
        if max(cursor.metric_id, cursor.record_id) > MAX_ID:
            raise InvalidInput(
                f"Last-Event-ID {text[:40]!r} is not an id of this stream: its row ids go up to "
                f"{MAX_ID}; send back the `id` of the last event received, or no header to start "
                "over"
            )
        return cursor


@dataclass(frozen=True)
class JobState:
    id: int
    task: str
    status: str
    progress: float
    attempt: int
    cancel_requested: bool
    error: str | None
    model_id: int | None
    started_at: datetime | None
    finished_at: datetime | None
    # Why a running row is shown queued (its worker silent past the heartbeat timeout); its
    # text counts the seconds, so it is left out of comparisons: a feed publishes a change of
    # status, not of that count.
    status_detail: str | None = field(default=None, compare=False)
    version: int = field(init=False)

    def __post_init__(self) -> None:
        version = status_version(self.status, self.attempt, self.cancel_requested)
        object.__setattr__(self, "version", version)

    @property
    def finished(self) -> bool:
        return self.status in JobStatus.FINISHED

    def timing(self) -> dict[str, float | None]:
        elapsed = elapsed_seconds(self.started_at, self.finished_at)
        return {
            "progress": self.progress,
            "elapsed_seconds": elapsed,
            "eta_seconds": eta_seconds(self.status, self.progress, elapsed),
        }

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task": self.task,
            "status": self.status,
            **self.timing(),
            "attempt": self.attempt,
            "cancel_requested": self.cancel_requested,
            "error": self.error,
            "model_id": self.model_id,
            "status_detail": self.status_detail,
        }


def job_state(job: Job, heartbeat_timeout_seconds: float | None = None) -> JobState:
    """The job as streams and pages show it; given the heartbeat timeout, a running row whose
    worker is silent past it shows as GET /jobs shows it: queued, awaiting retry."""
    status, stalled = shown_status(job, heartbeat_timeout_seconds)
    return JobState(
        id=job.id,
        task=job.task,
        status=status,
        progress=job.progress,
        attempt=job.attempt,
        cancel_requested=job.cancel_requested,
        error=job.error,
        model_id=job.model.id if job.model is not None else None,
        started_at=job.started_at,
        finished_at=job.finished_at,
        status_detail=stalled,
    )


@dataclass(frozen=True)
class MetricPoint:
    id: int
    name: str
    step: int
    value: float
    timestamp: datetime

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "step": self.step,
            "value": self.value,
            "timestamp": self.timestamp.isoformat(),
        }


@dataclass(frozen=True)
class RecordRow:
    """A teaching record (service/store/tables.py JobRecord); its SSE event type is its kind."""

    id: int
    kind: str
    step: int
    payload: dict[str, Any]
    timestamp: datetime

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "step": self.step,
            "payload": self.payload,
            "timestamp": self.timestamp.isoformat(),
        }


@dataclass(frozen=True)
class Update:
    """One read of a job: its state, then the metric points and the teaching records stored
    past a cursor, each in order."""

    state: JobState | None  # None: the job no longer exists
    metrics: tuple[MetricPoint, ...] = ()
    complete: bool = True  # False when a batch limit cut the read short: read again at once
    records: tuple[RecordRow, ...] = ()


def read_update(
    session: Session,
    job_id: int,
    since: Cursor,
    heartbeat_timeout_seconds: float | None = None,
    limit: int | None = None,
) -> Update:
    """The state first, then the points: a job finishes in the transaction that writes its last
    points, so a finished state read first guarantees those points are read too. At most
    `limit` rows of each source (READ_BATCH unless given)."""
    batch = limit or READ_BATCH
    job = session.get(Job, job_id)
    if job is None:
        return Update(None)
    state = job_state(job, heartbeat_timeout_seconds)
    rows = session.execute(
        select(Metric.id, Metric.name, Metric.step, Metric.value, Metric.timestamp)
        .where(Metric.job_id == job_id, Metric.id > since.metric_id)
        .order_by(Metric.id)
        .limit(batch)
    ).all()
    points = tuple(MetricPoint(*row) for row in rows)
    records = read_records(session, job_id, since.record_id, batch)
    complete = len(points) < batch and len(records) < batch
    return Update(state, points, complete, records)


def read_records(
    session: Session, job_id: int, after_id: int, limit: int, kind: str | None = None
) -> tuple[RecordRow, ...]:
    """A job's teaching records past row `after_id` (of one kind when given), oldest first."""
    query = select(
        JobRecord.id, JobRecord.kind, JobRecord.step, JobRecord.payload, JobRecord.timestamp
    ).where(JobRecord.job_id == job_id, JobRecord.id > after_id)
    if kind is not None:
        query = query.where(JobRecord.kind == kind)
    rows = session.execute(query.order_by(JobRecord.id).limit(limit)).all()
    return tuple(RecordRow(*row) for row in rows)


def newest_metric_id(session: Session, job_id: int) -> int:
    return session.scalar(select(func.max(Metric.id)).where(Metric.job_id == job_id)) or 0


def newest_cursor(session: Session, job_id: int, version: int = 0) -> Cursor:
    """A cursor past every point and record the job has stored so far."""
    newest_record = select(func.max(JobRecord.id)).where(JobRecord.job_id == job_id)
    record_id = session.scalar(newest_record) or 0
    return Cursor(version, newest_metric_id(session, job_id), record_id)


def advance(cursor: Cursor, update: Update) -> Cursor:
    """The cursor after a client has been sent everything in `update`."""
    if update.metrics:
        cursor = replace(cursor, metric_id=update.metrics[-1].id)
    if update.records:
        cursor = replace(cursor, record_id=update.records[-1].id)
    if update.state is not None:
        cursor = replace(cursor, version=update.state.version)
    return cursor


def read_jobs(
    session: Session,
    watched: frozenset[int],
    after_id: int | None,
    finished_since: datetime | None,
    heartbeat_timeout_seconds: float | None = None,
) -> list[JobState]:
    """Every unfinished job, the `watched` ones (to see them finish), those created after
    `after_id`, and those that finished since `finished_since`: the all-jobs stream's read."""
    wanted: list[ColumnElement[bool]] = [Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))]
    if after_id is not None:
        wanted.append(Job.id > after_id)
    if watched:
        wanted.append(Job.id.in_(sorted(watched)))
    if finished_since is not None:
        wanted.append(Job.finished_at >= finished_since)
    jobs = session.scalars(select(Job).where(or_(*wanted)).order_by(Job.id)).unique()
    return [job_state(job, heartbeat_timeout_seconds) for job in jobs]


def newest_job_id(session: Session) -> int:
    return session.scalar(select(func.max(Job.id))) or 0
