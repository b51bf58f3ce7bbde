"""Finding runs again: the filters of GET /jobs and GET /models, and the sort keys of models."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.sql.elements import ColumnElement

from rnnlab.models.tasks import TASKS
from rnnlab.service.errors import InvalidInput
from rnnlab.service.store.tables import Job, JobTag, ModelAlias, TrainedModel

JOB_FILTERS = ("status", "task", "name", "tag", "sweep_id")
MODEL_FILTERS = ("task", "name", "tag", "alias", "sweep_id", "sort")

# Final metrics a model may have, as the tasks name them: each is a sort key.
MODEL_METRICS = tuple(
    dict.fromkeys(name for task in TASKS.values() for name in task.final_metric_names)
)
MODEL_SORT_KEYS = ("id", "created_at", "size_bytes", *MODEL_METRICS)


def _has_tag(job_id: Any, tag: str) -> ColumnElement[bool]:
    return exists().where(JobTag.job_id == job_id, JobTag.tag == tag)


def filter_jobs(
    query: Select[Any],
    *,
    status: str | None = None,
    task: str | None = None,
    name: str | None = None,
    tag: str | None = None,
    sweep: int | None = None,
) -> Select[Any]:
    """`query` over Job narrowed by every filter given."""
    if status is not None:
        query = query.where(Job.status == status)
    if task is not None:
        query = query.where(Job.task == task)
    if name is not None:
        query = query.where(Job.name == name)
    if tag is not None:
        query = query.where(_has_tag(Job.id, tag))
    if sweep is not None:
        query = query.where(Job.sweep_id == sweep)
    return query


def filter_models(
    query: Select[Any],
    *,
    task: str | None = None,
    name: str | None = None,
    tag: str | None = None,
    alias: str | None = None,
    sweep: int | None = None,
) -> Select[Any]:
    """`query` over TrainedModel narrowed by every filter given (name, tag, sweep: its job's)."""
    if task is not None:
        query = query.where(TrainedModel.task == task)
    if name is not None or sweep is not None:
        job = select(Job.id).where(Job.id == TrainedModel.job_id)
        if name is not None:
            job = job.where(Job.name == name)
        if sweep is not None:
            job = job.where(Job.sweep_id == sweep)
        query = query.where(job.exists())
    if tag is not None:
        query = query.where(_has_tag(TrainedModel.job_id, tag))
    if alias is not None:
        query = query.where(
            exists().where(ModelAlias.model_id == TrainedModel.id, ModelAlias.alias == alias)
        )
    return query


def model_order(sort: str) -> list[Any]:
    """ORDER BY of `?sort=key` (ascending) or `-key` (descending); a metric's missing values
    come last either way, then the newest model first; 422 naming the keys when unknown."""
    key = sort.removeprefix("-")
    if key not in MODEL_SORT_KEYS:
        raise InvalidInput(
            f"unknown sort key {sort!r}: use one of {', '.join(MODEL_SORT_KEYS)}, "
            "with a leading '-' for descending"
        )
    descending = sort.startswith("-")
    if key in MODEL_METRICS:
        column: Any = TrainedModel.metrics[key].as_float()
    else:
        column = getattr(TrainedModel, key)
    ordered = column.desc() if descending else column.asc()
    return [column.is_(None), ordered, TrainedModel.id.desc()]
