from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status
from sqlalchemy import func, select

from rnnlab.service.api.deps import (
    DatabaseDep,
    ExecutorDep,
    JobId,
    ReadSessionDep,
    SettingsDep,
    SweepIdQuery,
)
from rnnlab.service.api.query import only_query_params
from rnnlab.service.catalog import deletion
from rnnlab.service.catalog.filters import JOB_FILTERS, filter_jobs
from rnnlab.service.charts.downsample import MAX_POINTS, read_points
from rnnlab.service.errors import job_not_found
from rnnlab.service.jobs import queue
from rnnlab.service.jobs.plans import plan_job
from rnnlab.service.schemas.error_examples import documented_error
from rnnlab.service.schemas.examples import TRAIN_REQUESTS
from rnnlab.service.schemas.experiments import NAME_BOUNDS, TAG_PATTERN, TaskName
from rnnlab.service.schemas.hyperparams import JobCreate
from rnnlab.service.schemas.ids import MAX_ID
from rnnlab.service.schemas.resources import (
    JobPublic,
    JobsPublic,
    JobStatusName,
    MetricPublic,
    MetricsPublic,
)
from rnnlab.service.schemas.text import NO_CONTROL
from rnnlab.service.store.tables import Job, JobStatus
from rnnlab.service.tracking.liveness import shown_as, shown_status
from rnnlab.service.tracking.timing import job_timing

router = APIRouter(tags=["jobs"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such job"}}


def to_public(job: Job, heartbeat_timeout_seconds: float | None = None) -> JobPublic:
    """The job as a client sees it; given the heartbeat timeout, a `running` row whose worker
    is silent past it is shown as it is: queued, awaiting retry
    (rnnlab.service.tracking.liveness)."""
    status, stalled = shown_status(job, heartbeat_timeout_seconds)
    return JobPublic(
        id=job.id,
        task=job.task,
        status=status,
        progress=job.progress,  # type: ignore[arg-type]
        hyperparams=job.hyperparams,
        error=job.error,
        attempt=job.attempt,
        cancel_requested=job.cancel_requested,
        corpus_id=job.corpus_id,
        worker=job.worker_id if status == JobStatus.RUNNING else None,
        checkpoint_step=job.checkpoint.step if job.checkpoint is not None else None,
        model_id=job.model.id if job.model is not None else None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        **job_timing(job),
        name=job.name,
        tags=job.tags,
        sweep_id=job.sweep_id,
        heartbeat_at=job.heartbeat_at if job.status == JobStatus.RUNNING else None,
        status_detail=stalled,
        parent_model_id=job.parent_model_id,
        optimizer_state=job.optimizer_state,  # type: ignore[arg-type]
    )


@router.post(
    "/train",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a training job",
    responses={
        404: {"description": "The corpus, or the model to continue, does not exist"},
        422: {"description": "Invalid task or hyperparameters, or over the memory budget"},
        429: {"description": "Too many queued jobs"},
    },
)
def create_job(
    body: Annotated[JobCreate, Body(openapi_examples=TRAIN_REQUESTS)],
    response: Response,
    db: DatabaseDep,
    executor: ExecutorDep,
    settings: SettingsDep,
) -> JobPublic:
    """Queue a job; it trains in a worker process. Poll `GET /jobs/{id}` (the Location)."""
    with db.write() as session:
        plan = plan_job(session, body.task, body.hyperparams, settings.job_memory_budget)
        job = queue.submit_job(
            session, body.task, plan.row(), settings.max_queued_jobs, body.name, body.tags
        )
    executor.submitted([job.id])
    response.headers["Location"] = f"/jobs/{job.id}"
    return to_public(job)


@router.get(
    "/jobs",
    summary="List jobs",
    dependencies=[only_query_params(*JOB_FILTERS, "limit", "offset")],
    responses={422: {"description": "An unknown or invalid filter"}},
)
def read_jobs(
    session: ReadSessionDep,
    settings: SettingsDep,
    status: JobStatusName | None = None,
    task: TaskName | None = None,
    name: Annotated[str | None, Query(**NAME_BOUNDS)] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN, description="Jobs with this tag")] = None,
    sweep_id: SweepIdQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> JobsPublic:
    """Newest first; `?status=&task=&name=&tag=&sweep_id=` filter (all must match); any other
    parameter is a 422."""
    timeout = settings.heartbeat_timeout_seconds
    query = filter_jobs(select(Job), task=task, name=name, tag=tag, sweep=sweep_id)
    if status is not None:  # as shown: a job awaiting retry is queued, whatever its row says
        query = query.where(shown_as(status, timeout))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = session.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset)).unique()
    return JobsPublic(jobs=[to_public(job, timeout) for job in jobs], count=total)


@router.get("/jobs/{job_id}", summary="Read a job", responses=NOT_FOUND)
def read_job(job_id: JobId, session: ReadSessionDep, settings: SettingsDep) -> JobPublic:
    """Status, progress, timestamps, error, and the model once it succeeded."""
    job = session.get(Job, job_id)
    if job is None:
        raise job_not_found(job_id)
    return to_public(job, settings.heartbeat_timeout_seconds)


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a job",
    operation_id="cancel_jobs__job_id__cancel_post",
    responses={**NOT_FOUND, 409: {"description": "The job already finished"}},
)
def cancel_job(job_id: JobId, db: DatabaseDep) -> JobPublic:
    """A queued job never starts; a running job stops at its next check and stores no model."""
    return to_public(queue.cancel_job(db, job_id))


@router.delete(
    "/jobs/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a finished job",
    operation_id="delete_jobs__job_id__delete",
    responses={
        **NOT_FOUND,
        409: documented_error(
            "Still queued or running, or its model exists",
            "job 7 trained model 7, which still exists: DELETE /models/7 first",
        ),
    },
)
def delete_job(job_id: JobId, db: DatabaseDep) -> None:
    """With its metrics and checkpoint; the space is returned. Refused while the job is queued
    or running (cancel it first) and while the model it trained exists (delete that first)."""
    deletion.delete_job(db, job_id)


@router.get(
    "/jobs/{job_id}/metrics",
    summary="Read a job's metrics",
    operation_id="read_metrics_jobs__job_id__metrics_get",
    responses=NOT_FOUND,
)
def read_job_metrics(
    job_id: JobId,
    session: ReadSessionDep,
    name: Annotated[
        str | None, Query(max_length=64, pattern=NO_CONTROL, description="Only this metric")
    ] = None,
    since_step: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="Only points after this step: the last_step read."),
    ] = None,
    max_points: Annotated[
        int | None,
        Query(
            ge=10,
            le=MAX_POINTS,
            description="At most this many points per metric: longer series keep each step "
            "range's lowest and highest value (and their first and last point).",
        ),
    ] = None,
) -> MetricsPublic:
    """Every logged value by step; `loss`, `accuracy`, `test_perplexity`, ..."""
    if session.get(Job, job_id) is None:
        raise job_not_found(job_id)
    rows, downsampled = read_points(session, job_id, name, since_step, max_points)
    return MetricsPublic(
        job_id=job_id,
        metrics=[
            MetricPublic(
                name=point.name, step=point.step, value=point.value, timestamp=point.timestamp
            )
            for point in rows
        ],
        downsampled=downsampled,
        last_step=max((point.step for point in rows), default=since_step),
    )
