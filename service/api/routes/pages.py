"""The dashboard for humans: server-rendered pages, live from the event streams, no build step.

Pages are left out of the OpenAPI schema (they are HTML for people, as /docs is); the
JavaScript they load is served from service/api/static and needs no network beyond this service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.service.api.deps import JobId, ReadSessionDep, SettingsDep
from rnnlab.service.charts.curves import group_points
from rnnlab.service.charts.downsample import read_points
from rnnlab.service.errors import job_not_found
from rnnlab.service.settings import Settings
from rnnlab.service.store.tables import Job, JobRecord, TrainedModel
from rnnlab.service.tracking.reads import JobState, job_state, newest_cursor

API = Path(__file__).resolve().parents[1]


def root_path(request: Request) -> dict[str, str]:
    """Pages name their own URLs from the path they are served under, never an absolute URL
    from the request's host (behind a TLS proxy that host is plain http: mixed content). Behind
    a proxy that strips a prefix, uvicorn's --root-path (RNNLAB_ROOT_PATH) is that prefix."""
    return {"root": request.scope.get("root_path", "")}


templates = Jinja2Templates(directory=API / "templates", context_processors=[root_path])
static = StaticFiles(directory=API / "static")
router = APIRouter(include_in_schema=False)

LISTED = 50  # jobs and models on the dashboard; /jobs and /models page through the rest
CHART_POINTS = 1000  # per series when a job page opens; new points then arrive as events
# teaching records a job page opens with, by kind: the latest, and the heat map's columns
PAGE_RECORDS = {"sums": 1, "bit_accuracy": 1, "generated": 20, "gradient_norms": 200}


def shown(job: Job, settings: Settings) -> JobState:
    """The job as its stream will go on to show it (a silent running job: queued)."""
    return job_state(job, settings.heartbeat_timeout_seconds)


@router.get("/", response_class=HTMLResponse)
def show_dashboard(
    request: Request, session: ReadSessionDep, settings: SettingsDep
) -> HTMLResponse:
    jobs = session.scalars(select(Job).order_by(Job.id.desc()).limit(LISTED)).unique()
    models = session.scalars(select(TrainedModel).order_by(TrainedModel.id.desc()).limit(LISTED))
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {"jobs": [shown(job, settings).public() for job in jobs], "models": list(models)},
    )


@router.get("/jobs/{job_id}/view", response_class=HTMLResponse)
def show_job_page(
    request: Request, job_id: JobId, session: ReadSessionDep, settings: SettingsDep
) -> HTMLResponse:
    job = session.get(Job, job_id)
    if job is None:
        raise job_not_found(job_id)
    # The newest ids first, the points after: a point stored in between is drawn twice at
    # worst (the chart keeps one value a step), never missed; records are read up to the ids.
    cursor = newest_cursor(session, job_id, version=0)
    rows, _ = read_points(session, job_id, max_points=CHART_POINTS)
    state = shown(job, settings).public()
    initial: dict[str, Any] = {
        "job": state,
        "cursor": str(cursor),
        "series": {name: list(zip(*xy, strict=True)) for name, xy in group_points(rows).items()},
        "records": teaching_records(session, job_id, cursor.record_id),
    }
    return templates.TemplateResponse(
        request,
        "job.html",
        {
            "job": state,
            "hyperparams": job.hyperparams,
            # "</" inside a string must not end the <script> the JSON sits in.
            "initial": json.dumps(initial).replace("<", "\\u003c"),
        },
    )


def teaching_records(session: Session, job_id: int, up_to_id: int) -> dict[str, list[Any]]:
    """The page's first teaching views: the latest records of each kind, the gradient norms'
    recent history (the heat map's columns); newer ones arrive as events."""
    latest: dict[str, list[Any]] = {}
    for kind, keep in PAGE_RECORDS.items():
        rows = session.execute(
            select(JobRecord.id, JobRecord.kind, JobRecord.step, JobRecord.payload)
            .where(JobRecord.job_id == job_id, JobRecord.kind == kind, JobRecord.id <= up_to_id)
            .order_by(JobRecord.id.desc())
            .limit(keep)
        ).all()
        latest[kind] = [
            {"id": row.id, "step": row.step, "payload": row.payload} for row in rows[::-1]
        ]
    return latest
