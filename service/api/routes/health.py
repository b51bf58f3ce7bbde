from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from rnnlab.service import __version__
from rnnlab.service.errors import StorageUnavailable
from rnnlab.service.schemas.resources import Health
from rnnlab.service.store.migrate import current_revision
from rnnlab.service.store.probe import storage_reasons

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    detail: str | None = None
    reasons: list[str] = []


@router.get("/healthz", summary="Liveness")
async def read_health() -> Health:
    """The service answers; it does not wait for any job."""
    return Health(status="ok", version=__version__)


@router.get(
    "/readyz",
    summary="Readiness",
    responses={503: {"model": Readiness, "description": "Not ready: `reasons` say why"}},
)
def read_readiness(request: Request) -> Readiness:
    """Ready when the database answers and can be written (not full, not read-only), its
    schema is at this version's newest migration and every worker process is up; else 503
    with the reasons."""
    reasons = [*_database_reasons(request), *_worker_reasons(request)]
    if not reasons:  # a database that does not answer has nothing more to say
        reasons = storage_reasons(request.app.state.db)
    if reasons:
        body = Readiness(status="unavailable", detail="; ".join(reasons), reasons=reasons)
        return JSONResponse(body.model_dump(), status_code=503)  # type: ignore[return-value]
    return Readiness(status="ready")


def _database_reasons(request: Request) -> list[str]:
    state = request.app.state
    try:
        with state.db.read() as session:
            revision = current_revision(session)
    except StorageUnavailable as fault:
        return [f"{fault.detail} [{fault.reason}]"]
    except SQLAlchemyError as error:
        return [f"database unreachable ({type(error).__name__}): check RNNLAB_DATABASE_URL"]
    if revision != state.schema_head:
        return [
            f"database schema at revision {revision}, this version needs {state.schema_head}: "
            "run `rnnlab db upgrade`"
        ]
    return []


def _worker_reasons(request: Request) -> list[str]:
    reason = request.app.state.executor.not_ready()
    return [] if reason is None else [reason]
