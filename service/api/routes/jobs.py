from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.tasks import TASKS, Task
from models.tasks import Corpus as TaskCorpus
from models.tasks.memory import mib
from service.api.deps import DatabaseDep, ExecutorDep, JobId, ReadSessionDep, SettingsDep
from service.corpora import demo_corpus_id, lock_corpus
from service.downsample import MAX_POINTS, read_points
from service.errors import CorpusTooSmall, NoCorpus, OverMemoryBudget, job_not_found
from service.jobs.queue import cancel_job, submit_job
from service.schemas import (
    HYPERPARAMS,
    MAX_ID,
    NO_NUL,
    JobCreate,
    JobPublic,
    JobsPublic,
    JobStatusName,
    MetricPublic,
    MetricsPublic,
)
from service.tables import Corpus, Job
from service.timing import job_timing

router = APIRouter(tags=["jobs"])

TRAIN_EXAMPLES = {
    "binary_addition": {
        "summary": "Binary addition with the defaults",
        "value": {
            "task": "binary_addition",
            "hyperparams": HYPERPARAMS["binary_addition"]().model_dump(),
        },
    },
    "next_word": {
        "summary": "Next word on the demo corpus with the defaults",
        "value": {"task": "next_word", "hyperparams": {}},
    },
    "notes": {
        "summary": "The study notes' binary-addition run (batch 1, SGD, sigmoid)",
        "value": {
            "task": "binary_addition",
            "hyperparams": {
                "batch_size": 1,
                "optimizer": "sgd",
                "learning_rate": 0.1,
                "activation": "sigmoid",
                "init": "normal",
                "init_std": 1.0,
                "iterations": 10000,
                "loss": "mse",
                "bias": False,
            },
        },
    },
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such job"}}


def to_public(job: Job) -> JobPublic:
    return JobPublic(
        id=job.id,
        task=job.task,
        status=job.status,
        progress=job.progress,  # type: ignore[arg-type]
        hyperparams=job.hyperparams,
        error=job.error,
        attempt=job.attempt,
        cancel_requested=job.cancel_requested,
        corpus_id=job.corpus_id,
        worker=job.worker_id if job.status == "running" else None,
        checkpoint_step=job.checkpoint.step if job.checkpoint is not None else None,
        model_id=job.model.id if job.model is not None else None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        **job_timing(job),
    )


@router.post(
    "/train",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a training job",
    responses={
        404: {"description": "The corpus does not exist"},
        422: {"description": "Invalid task or hyperparameters, or over the memory budget"},
        429: {"description": "Too many queued jobs"},
    },
)
def create_job(
    body: Annotated[JobCreate, Body(openapi_examples=TRAIN_EXAMPLES)],
    response: Response,
    db: DatabaseDep,
    executor: ExecutorDep,
    settings: SettingsDep,
) -> JobPublic:
    """Queue a job; it trains in a worker process. Poll `GET /jobs/{id}` (the Location)."""
    task = TASKS[body.task]
    hyperparams = body.hyperparams.model_dump()
    config = body.hyperparams.to_config()
    # One transaction from the corpus check to the insert: a corpus deleted meanwhile answers
    # 404 here, or its deletion 409, never a foreign-key error.
    with db.write() as session:
        corpus = _usable_corpus(session, task, config, hyperparams) if task.needs_corpus else None
        corpus_id = None
        if corpus is not None:
            corpus_id = hyperparams["corpus_id"] = corpus.id
        _check_memory(task, config, corpus, settings.job_memory_budget)
        job = submit_job(session, body.task, hyperparams, corpus_id, settings.max_queued_jobs)
    executor.notify()
    response.headers["Location"] = f"/jobs/{job.id}"
    return to_public(job)


def _usable_corpus(session: Session, task: Task, config: Any, hyperparams: dict) -> Corpus:
    """The job's corpus (default: the demo corpus), long enough for its windows, and kept from
    deletion until the job is stored."""
    corpus_id = hyperparams.get("corpus_id") or demo_corpus_id(session)
    if corpus_id is None:
        raise NoCorpus("no corpus is registered: upload one with POST /corpora")
    corpus = lock_corpus(session, corpus_id)
    needed = task.min_tokens(config) if task.min_tokens is not None else 0
    if corpus.tokens < needed:
        raise CorpusTooSmall(
            f"corpus {corpus_id} has {corpus.tokens} tokens; these hyperparameters need at "
            f"least {needed}: lower batch_size or seq_len, or upload a longer text"
        )
    return corpus


def _check_memory(task: Task, config: Any, corpus: Corpus | None, budget: int) -> None:
    """OverMemoryBudget when the task's estimate of this job is over `budget`."""
    sizes = TaskCorpus(None, corpus.tokens, corpus.vocabulary_size) if corpus else None
    needed = task.memory_bytes(config, sizes)
    if needed > budget:
        raise OverMemoryBudget(
            f"this job would need about {mib(needed)} (estimated from its hyperparameters), "
            f"over the budget of {mib(budget)} (RNNLAB_JOB_MEMORY_BUDGET): lower batch_size, "
            "hidden_size or embedding_size, or raise the corpus' unknown_threshold"
        )


@router.get("/jobs", summary="List jobs")
def read_jobs(
    session: ReadSessionDep,
    status: JobStatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> JobsPublic:
    """Newest first; `?status=` filters."""
    query = select(Job)
    if status is not None:
        query = query.where(Job.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    jobs = session.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset)).unique()
    return JobsPublic(jobs=[to_public(job) for job in jobs], count=total)


@router.get("/jobs/{job_id}", summary="Read a job", responses=NOT_FOUND)
def read_job(job_id: JobId, session: ReadSessionDep) -> JobPublic:
    """Status, progress, timestamps, error, and the model once it succeeded."""
    job = session.get(Job, job_id)
    if job is None:
        raise job_not_found(job_id)
    return to_public(job)


@router.post(
    "/jobs/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a job",
    responses={**NOT_FOUND, 409: {"description": "The job already finished"}},
)
def cancel(job_id: JobId, db: DatabaseDep) -> JobPublic:
    """A queued job never starts; a running job stops at its next check and stores no model."""
    return to_public(cancel_job(db, job_id))


@router.get("/jobs/{job_id}/metrics", summary="Read a job's metrics", responses=NOT_FOUND)
def read_metrics(
    job_id: JobId,
    session: ReadSessionDep,
    name: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="Only this metric")
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
            MetricPublic(name=m.name, step=m.step, value=m.value, timestamp=m.timestamp)
            for m in rows
        ],
        downsampled=downsampled,
        last_step=max((m.step for m in rows), default=since_step),
    )
