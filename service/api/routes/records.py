"""A job's teaching records: what the notes print as a net learns (fixed sums, each bit's
accuracy, generated text) and the gradient's norm at each time step, as JSON and as a heat map.

curl 'localhost:8000/jobs/1/records?kind=sums&limit=5'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from rnnlab.service.api.conditional import NOT_MODIFIED, conditional
from rnnlab.service.api.deps import JobId, ReadSessionDep
from rnnlab.service.charts.curves import MEDIA_TYPES
from rnnlab.service.charts.heatmap import gradient_heatmap, read_columns
from rnnlab.service.errors import job_not_found
from rnnlab.service.schemas.ids import CURSOR_SCHEMA, MAX_ID, PLAIN_CURSOR
from rnnlab.service.store.tables import Job
from rnnlab.service.tracking.reads import job_state, read_records

router = APIRouter()  # the records are tagged "records", their heat map "plots"

MAX_RECORDS = 1000
RecordKind = Literal["sums", "bit_accuracy", "gradient_norms", "generated"]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such job"}}


class RecordPublic(BaseModel):
    id: int = Field(description="Row id: pass the last one as `since_id` to read on.")
    kind: RecordKind
    step: int = Field(description="The training step it was recorded at.")
    payload: dict[str, Any] = Field(description="Fields by kind: see the endpoint's description.")
    timestamp: str


class RecordsPublic(BaseModel):
    records: list[RecordPublic]
    next_since_id: int | None = Field(
        description="`since_id` of the next page when this one was full; null when up to date."
    )


@router.get(
    "/jobs/{job_id}/records",
    summary="A job's teaching records",
    tags=["records"],
    response_model=RecordsPublic,
    responses=NOT_FOUND,
)
def list_records(
    job_id: JobId,
    session: ReadSessionDep,
    kind: Annotated[RecordKind | None, Query(description="Only this kind.")] = None,
    since_id: Annotated[
        int,
        PLAIN_CURSOR,
        Query(
            ge=0,
            le=MAX_ID,
            description="Only records with a larger id (0: from the start).",
            json_schema_extra=CURSOR_SCHEMA,
        ),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_RECORDS, description="Most records returned.")] = 100,
) -> dict[str, Any]:
    """Records in the order they were stored, past `since_id`, page by page. Kinds and payloads:

    - `sums` (binary addition, each log step): `{"sums": [{"a", "b", "predicted", "true",
      "predicted_bits", "true_bits", "correct"}]}`, bits most significant first, as the notes
      print `a + b = predicted (true)`
    - `bit_accuracy` (binary addition, each log step): `{"accuracy": [...], "samples"}`, one
      value per bit, least significant first, over the training samples since the last one
    - `gradient_norms` (every `gradient_norms_every` steps): `{"norms": [...], "loss_step"}`,
      ||dL/dh_t|| for each time step t of the window, L the loss of its last step: how the
      error shrinks (vanishes) or grows (explodes) travelling back in time
    - `generated` (next word, each epoch end): `{"epoch", "prompt", "text"}`, a continuation
      of a fixed prompt, drawn the same way each epoch
    """
    if session.get(Job, job_id) is None:
        raise job_not_found(job_id)
    rows = read_records(session, job_id, since_id, limit, kind)
    full = len(rows) == limit
    return {
        "records": [row.public() for row in rows],
        "next_since_id": rows[-1].id if full else None,
    }


def _heatmap(request: Request, job_id: int, session: ReadSessionDep, fmt: str) -> Response:
    job = session.get(Job, job_id)
    if job is None:
        raise job_not_found(job_id)
    columns = read_columns(session, job_id)
    picture = gradient_heatmap(job_state(job), dict(job.hyperparams), columns, fmt)
    return conditional(request, picture, MEDIA_TYPES[fmt])


@router.get(
    "/jobs/{job_id}/gradients.svg",
    summary="Plot the gradient's norm over time steps and training (SVG)",
    operation_id="gradients_svg_jobs__job_id__gradients_svg_get",
    response_class=Response,
    tags=["plots"],
    responses={
        200: {"content": {MEDIA_TYPES["svg"]: {}}, "description": "A heat map"},
        **NOT_MODIFIED,
        **NOT_FOUND,
    },
)
def plot_gradients_svg(job_id: JobId, session: ReadSessionDep, request: Request) -> Response:
    """The job's `gradient_norms` records as a heat map: training step across, steps back in
    time from the loss up, ||dL/dh_t|| as colour on a log scale (up to 400 columns spread over
    the run). Vanishing gradients fade towards the top; exploding ones brighten."""
    return _heatmap(request, job_id, session, "svg")


@router.get(
    "/jobs/{job_id}/gradients.png",
    summary="Plot the gradient's norm over time steps and training (PNG)",
    operation_id="gradients_png_jobs__job_id__gradients_png_get",
    response_class=Response,
    tags=["plots"],
    responses={
        200: {"content": {MEDIA_TYPES["png"]: {}}, "description": "A heat map"},
        **NOT_MODIFIED,
        **NOT_FOUND,
    },
)
def plot_gradients_png(job_id: JobId, session: ReadSessionDep, request: Request) -> Response:
    """The same picture as gradients.svg, 900 x 360 pixels."""
    return _heatmap(request, job_id, session, "png")
