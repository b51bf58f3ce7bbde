from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response, status
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from rnnlab.service.api.conditional import NOT_MODIFIED, conditional
from rnnlab.service.api.deps import (
    DatabaseDep,
    ExecutorDep,
    ReadSessionDep,
    SettingsDep,
    SweepId,
)
from rnnlab.service.api.query import only_query_params
from rnnlab.service.errors import corpus_not_found, sweep_not_found
from rnnlab.service.schemas.error_examples import documented_error
from rnnlab.service.schemas.examples import SWEEP_REQUESTS
from rnnlab.service.schemas.experiments import (
    NAME_BOUNDS,
    TAG_PATTERN,
    SweepCreate,
    SweepPublic,
    SweepsPublic,
    TaskName,
)
from rnnlab.service.schemas.ids import MAX_ID
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, Sweep
from rnnlab.service.sweeps import create as sweep_jobs
from rnnlab.service.sweeps.metrics import curve_metric, ranked_metric
from rnnlab.service.sweeps.plot import sweep_curves, sweep_svg
from rnnlab.service.sweeps.summary import sweep_public, sweep_summary

# A metric's name (which names a task has is checked against the task, with the list in the 422)
METRIC_NAME = r"^[a-z][a-z0-9_]{0,63}$"

router = APIRouter(prefix="/sweeps", tags=["sweeps"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such sweep"}}


def _sweep(session: ReadSessionDep, sweep_id: int) -> Sweep:
    sweep = session.get(Sweep, sweep_id)
    if sweep is None:
        raise sweep_not_found(sweep_id)
    return sweep


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a sweep",
    operation_id="create_sweeps_post",
    responses={
        404: documented_error("The corpus does not exist", corpus_not_found(7).detail),
        422: {"description": "An invalid cell, seed or metric; or too many runs"},
        429: {"description": "The queue has no room for every run"},
    },
)
def create_sweep(
    body: Annotated[SweepCreate, Body(openapi_examples=SWEEP_REQUESTS)],
    response: Response,
    db: DatabaseDep,
    executor: ExecutorDep,
    settings: SettingsDep,
) -> SweepPublic:
    """One job per cell and seed, queued together (all or none): cells are every combination
    of `grid`, each combined with every entry of `cells`. Every run is checked first; a bad
    cell is a 422 naming it. Poll `GET /sweeps/{id}` (the Location)."""
    sweep, _ = sweep_jobs.create_sweep(db, settings, body)
    with db.read() as session:
        job_ids = session.scalars(
            select(Job.id).where(Job.sweep_id == sweep.id).order_by(Job.id)
        ).all()
    executor.submitted(job_ids)
    response.headers["Location"] = f"/sweeps/{sweep.id}"
    with db.read() as session:
        return sweep_public(session, _sweep(session, sweep.id), sweep.metric)


@router.get(
    "",
    summary="List sweeps",
    dependencies=[only_query_params("task", "name", "tag", "limit", "offset")],
    responses={422: {"description": "An unknown or invalid filter"}},
)
def read_sweeps(
    session: ReadSessionDep,
    task: TaskName | None = None,
    name: Annotated[str | None, Query(**NAME_BOUNDS)] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> SweepsPublic:
    """Newest first, with their status and counts; `?task=&name=&tag=` filter."""
    query = select(Sweep)
    if task is not None:
        query = query.where(Sweep.task == task)
    if name is not None:
        query = query.where(Sweep.name == name)
    sweeps = list(session.scalars(query.order_by(Sweep.id.desc())))
    if tag is not None:  # tags are a short JSON list per sweep
        sweeps = [sweep for sweep in sweeps if tag in sweep.tags]
    total = len(sweeps)
    page = sweeps[offset : offset + limit]
    return SweepsPublic(sweeps=[sweep_summary(session, sweep) for sweep in page], count=total)


@router.get(
    "/{sweep_id}",
    summary="Read a sweep's table",
    dependencies=[only_query_params("metric")],
    responses={**NOT_FOUND, 422: {"description": "An unknown metric"}},
)
def read_sweep(
    sweep_id: SweepId,
    session: ReadSessionDep,
    metric: Annotated[
        str | None,
        Query(pattern=METRIC_NAME, description="Rank by this final metric instead"),
    ] = None,
) -> SweepPublic:
    """Per cell: its runs and how each ended, the final metrics' mean and spread over the
    seeds (succeeded runs), how many diverged (NaN, the error says when) or failed otherwise;
    then the cells ranked by `metric` (default the sweep's)."""
    sweep = _sweep(session, sweep_id)
    ranked_by = ranked_metric(sweep.task, metric or sweep.metric)
    return sweep_public(session, sweep, ranked_by)


@router.get(
    "/{sweep_id}/plot.svg",
    summary="Plot a sweep's curves",
    operation_id="plot_sweeps__sweep_id__plot_svg_get",
    response_class=Response,
    dependencies=[only_query_params("metric", "log_y")],
    responses={
        200: {
            "description": "An SVG image",
            "content": {"image/svg+xml": {"schema": {"type": "string"}}},
        },
        **NOT_MODIFIED,
        **NOT_FOUND,
        422: {"description": "An unknown metric"},
    },
)
async def plot_sweep(
    request: Request,
    sweep_id: SweepId,
    db: DatabaseDep,
    metric: Annotated[str | None, Query(pattern=METRIC_NAME, description="A step metric")] = None,
    log_y: Annotated[bool | None, Query(description="Default: log for positive losses")] = None,
) -> Response:
    """Every cell's curve of `metric` (default `loss` or `validation_loss`): the mean over its
    seeds, and a band from the lowest to the highest seed."""
    svg = await run_in_threadpool(_sweep_svg, db, sweep_id, metric, log_y)
    return conditional(request, svg, "image/svg+xml")


def _sweep_svg(db: Database, sweep_id: int, metric: str | None, log_y: bool | None) -> bytes:
    with db.read() as session:
        sweep = _sweep(session, sweep_id)
        name = curve_metric(sweep.task, metric)
        curves = sweep_curves(session, sweep, name)
    return sweep_svg(sweep, curves, name, log_y)


@router.post(
    "/{sweep_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a sweep",
    operation_id="cancel_sweeps__sweep_id__cancel_post",
    responses={**NOT_FOUND, 409: {"description": "Every run already finished"}},
)
def cancel_sweep(sweep_id: SweepId, db: DatabaseDep) -> SweepPublic:
    """Queued runs never start; running ones stop at their next check. Finished runs and
    their models stay."""
    sweep_jobs.cancel_sweep(db, sweep_id)
    with db.read() as session:
        sweep = _sweep(session, sweep_id)
        return sweep_public(session, sweep, sweep.metric)
