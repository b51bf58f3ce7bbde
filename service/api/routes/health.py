from __future__ import annotations

from fastapi import APIRouter

from service import __version__
from service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def read_health() -> Health:
    """The service answers; it does not wait for any job."""
    return Health(status="ok", version=__version__)
