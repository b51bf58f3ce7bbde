from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from models.tasks import TASKS
from service.api.deps import ModelId, ReadSessionDep
from service.errors import model_not_found
from service.schemas import MAX_ID, ModelPublic, ModelsPublic
from service.tables import TrainedModel

router = APIRouter(prefix="/models", tags=["models"])
TaskName = Literal[tuple(TASKS)]  # type: ignore[valid-type]


def to_public(model: TrainedModel) -> ModelPublic:
    return ModelPublic(
        id=model.id,
        job_id=model.job_id,
        task=model.task,
        hyperparams=model.hyperparams,
        metrics=model.metrics,
        corpus_id=model.corpus_id,
        sha256=model.sha256,
        size_bytes=model.size_bytes,
        created_at=model.created_at,
    )


@router.get("", summary="List trained models")
def read_models(
    session: ReadSessionDep,
    task: TaskName | None = None,  # type: ignore[valid-type]
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> ModelsPublic:
    """Newest first, with their final metrics; `?task=` filters."""
    query = select(TrainedModel)
    if task is not None:
        query = query.where(TrainedModel.task == task)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    models = session.scalars(query.order_by(TrainedModel.id.desc()).limit(limit).offset(offset))
    return ModelsPublic(models=[to_public(m) for m in models], count=total)


@router.get(
    "/{model_id}", summary="Read a model", responses={404: {"description": "No such model"}}
)
def read_model(model_id: ModelId, session: ReadSessionDep) -> ModelPublic:
    """Task, hyperparameters, final metrics (e.g. `final_accuracy`), the job that trained it."""
    model = session.get(TrainedModel, model_id)
    if model is None:
        raise model_not_found(model_id)
    return to_public(model)
