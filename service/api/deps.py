"""Dependencies shared by the routers, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from rnnlab.service.api.limits import UploadSlots
from rnnlab.service.jobs.executor import Executor
from rnnlab.service.schemas.ids import ID_SCHEMA, MAX_ID, PLAIN_ID
from rnnlab.service.serving.model_cache import ModelCache
from rnnlab.service.settings import Settings
from rnnlab.service.store.db import Database


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_database(request: Request) -> Database:
    return request.app.state.db


def get_read_session(request: Request) -> Iterator[Session]:
    with request.app.state.db.read() as session:
        yield session


def get_executor(request: Request) -> Executor:
    return request.app.state.executor


def get_model_cache(request: Request) -> ModelCache:
    return request.app.state.model_cache


def get_upload_slots(request: Request) -> UploadSlots:
    return request.app.state.upload_slots


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
ExecutorDep = Annotated[Executor, Depends(get_executor)]
ModelCacheDep = Annotated[ModelCache, Depends(get_model_cache)]
UploadSlotsDep = Annotated[UploadSlots, Depends(get_upload_slots)]


def id_path(description: str) -> Any:
    """A path parameter holding an id: plain decimal digits, 1..MAX_ID."""
    return Path(ge=1, le=MAX_ID, description=description, json_schema_extra=ID_SCHEMA)


def id_query(description: str) -> Any:
    """A query parameter holding an id, as `id_path`."""
    return Query(ge=1, le=MAX_ID, description=description, json_schema_extra=ID_SCHEMA)


JobId = Annotated[int, PLAIN_ID, id_path("A job id from POST /train or GET /jobs")]
ModelId = Annotated[int, PLAIN_ID, id_path("A model id from GET /models")]
CorpusId = Annotated[int, PLAIN_ID, id_path("A corpus id from GET /corpora")]
SweepId = Annotated[int, PLAIN_ID, id_path("A sweep id from POST /sweeps")]
SweepIdQuery = Annotated[int | None, PLAIN_ID, id_query("Only the runs of this sweep")]
