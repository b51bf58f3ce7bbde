"""Curves as pictures: one job's loss and accuracy, or several jobs overlaid."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from rnnlab.service.api.conditional import NOT_MODIFIED, conditional
from rnnlab.service.api.deps import JobId, ReadSessionDep
from rnnlab.service.charts.curves import MEDIA_TYPES, Run, compare_plot, group_points, job_plot
from rnnlab.service.charts.downsample import read_points
from rnnlab.service.errors import InvalidInput, JobNotFound, job_not_found
from rnnlab.service.schemas.ids import ID_PATTERN, MAX_ID
from rnnlab.service.store.tables import Job
from rnnlab.service.tracking.reads import job_state

router = APIRouter(tags=["plots"])

PLOT_POINTS = 1000  # per series: more than a plot's width in pixels
MAX_COMPARED = 12


def _picture(fmt: str, what: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {MEDIA_TYPES[fmt]: {}}, "description": what}, **NOT_MODIFIED}


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such job"}}


def load_run(session: Session, job_id: int) -> Run:
    job = session.get(Job, job_id)
    if job is None:
        raise job_not_found(job_id)
    rows, _ = read_points(session, job_id, max_points=PLOT_POINTS)
    return Run(job_state(job), dict(job.hyperparams), group_points(rows))


def _job_plot(request: Request, job_id: int, session: Session, fmt: str) -> Response:
    return conditional(request, job_plot(load_run(session, job_id), fmt), MEDIA_TYPES[fmt])


@router.get(
    "/jobs/{job_id}/plot.svg",
    summary="Plot a job's curves (SVG)",
    operation_id="job_plot_svg_jobs__job_id__plot_svg_get",
    response_class=Response,
    responses={**_picture("svg", "Loss and accuracy by step"), **NOT_FOUND},
)
def plot_job_svg(job_id: JobId, session: ReadSessionDep, request: Request) -> Response:
    """Loss and accuracy by step, titled with the job's hyperparameters; a running job's curves
    so far."""
    return _job_plot(request, job_id, session, "svg")


@router.get(
    "/jobs/{job_id}/plot.png",
    summary="Plot a job's curves (PNG)",
    operation_id="job_plot_png_jobs__job_id__plot_png_get",
    response_class=Response,
    responses={**_picture("png", "Loss and accuracy by step"), **NOT_FOUND},
)
def plot_job_png(job_id: JobId, session: ReadSessionDep, request: Request) -> Response:
    """The same picture as plot.svg, 900 x 360 pixels."""
    return _job_plot(request, job_id, session, "png")


ONE_ID = ID_PATTERN[1:-1]
JOBS_QUERY = Query(
    max_length=200,
    pattern=rf"^ *{ONE_ID} *(, *{ONE_ID} *)*$",
    description=f"Comma-separated job ids, 1 to {MAX_COMPARED}, e.g. `1,2,3`.",
    examples=["1,2"],
)


def parse_job_ids(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",")]
    wrong = next((part for part in parts if re.fullmatch(ID_PATTERN, part) is None), None)
    if wrong is not None:
        raise InvalidInput(f"jobs is a comma-separated list of job ids, e.g. 1,2,3; not {wrong!r}")
    ids = list(dict.fromkeys(int(part) for part in parts))
    if len(ids) > MAX_COMPARED:
        raise InvalidInput(f"{len(ids)} jobs given; a comparison shows at most {MAX_COMPARED}")
    out_of_range = [job_id for job_id in ids if not 1 <= job_id <= MAX_ID]
    if out_of_range:
        raise InvalidInput(f"job ids are 1..{MAX_ID}; not {out_of_range[0]}")
    return ids


@router.get(
    "/plots/compare.svg",
    summary="Overlay several jobs' curves (SVG)",
    operation_id="compare_svg_plots_compare_svg_get",
    response_class=Response,
    responses={
        **_picture("svg", "Each job's loss and accuracy on shared axes"),
        404: {"description": "Some of the jobs do not exist"},
        422: {"description": "`jobs` is not a list of 1 to 12 job ids"},
        **NOT_MODIFIED,
    },
)
def compare_jobs_svg(
    jobs: Annotated[str, JOBS_QUERY], session: ReadSessionDep, request: Request
) -> Response:
    """Each job's `loss` and `accuracy` (or the first series whose name contains them) on the
    same axes, labelled with the hyperparameters that differ between the jobs."""
    ids = parse_job_ids(jobs)
    missing = [job_id for job_id in ids if session.get(Job, job_id) is None]
    if missing:
        raise JobNotFound(
            f"no job {', '.join(map(str, missing))}: GET /jobs lists the jobs that exist"
        )
    runs = [load_run(session, job_id) for job_id in ids]
    return conditional(request, compare_plot(runs, "svg"), MEDIA_TYPES["svg"])
