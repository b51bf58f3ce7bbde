from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from rnnlab.service.api.deps import (
    DatabaseDep,
    ModelCacheDep,
    ModelId,
    ReadSessionDep,
    SweepIdQuery,
)
from rnnlab.service.api.query import only_query_params
from rnnlab.service.catalog import deletion
from rnnlab.service.catalog.aliases import aliases_by_model, remove_alias, set_alias
from rnnlab.service.catalog.filters import (
    MODEL_FILTERS,
    MODEL_SORT_KEYS,
    filter_models,
    model_order,
)
from rnnlab.service.errors import model_not_found
from rnnlab.service.schemas.error_examples import documented_error
from rnnlab.service.schemas.experiments import (
    ALIAS_PATTERN,
    NAME_BOUNDS,
    TAG_PATTERN,
    AliasPublic,
    TaskName,
)
from rnnlab.service.schemas.ids import MAX_ID
from rnnlab.service.schemas.resources import ModelPublic, ModelsPublic
from rnnlab.service.store.tables import TrainedModel

router = APIRouter(prefix="/models", tags=["models"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such model"}}
AliasName = Annotated[
    str,
    Path(
        pattern=ALIAS_PATTERN,
        description="Lower-case letters, digits, `_` and `-`, starting with a letter "
        "(`default` is what /predict serves when no model is named)",
    ),
]


def to_public(model: TrainedModel, aliases: list[str] | None = None) -> ModelPublic:
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
        name=model.job.name,
        tags=model.job.tags,
        aliases=aliases or [],
        parent_model_id=model.parent_model_id,
    )


def _publics(session: Session, models: list[TrainedModel]) -> list[ModelPublic]:
    aliases = aliases_by_model(session, [model.id for model in models])
    return [to_public(model, aliases.get(model.id)) for model in models]


@router.get(
    "",
    summary="List trained models",
    dependencies=[only_query_params(*MODEL_FILTERS, "limit", "offset")],
    responses={422: {"description": "An unknown filter or sort key"}},
)
def read_models(
    session: ReadSessionDep,
    task: TaskName | None = None,
    name: Annotated[str | None, Query(**NAME_BOUNDS)] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
    alias: Annotated[str | None, Query(pattern=ALIAS_PATTERN)] = None,
    sweep_id: SweepIdQuery = None,
    sort: Annotated[
        str,
        Query(
            pattern=r"^-?[a-z][a-z0-9_]{0,63}$",
            description=f"One of {', '.join(MODEL_SORT_KEYS)}; a leading `-` sorts descending "
            "(e.g. `-final_accuracy`, `test_perplexity`). Models without the metric come last.",
        ),
    ] = "-id",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> ModelsPublic:
    """With their final metrics; `?task=&name=&tag=&alias=&sweep_id=` filter (name, tags and
    sweep are those of the job that trained the model); any other parameter is a 422."""
    order = model_order(sort)
    query = filter_models(
        select(TrainedModel), task=task, name=name, tag=tag, alias=alias, sweep=sweep_id
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.options(selectinload(TrainedModel.job)).order_by(*order).limit(limit)
    models = list(session.scalars(page.offset(offset)))
    return ModelsPublic(models=_publics(session, models), count=total)


@router.get("/{model_id}", summary="Read a model", responses=NOT_FOUND)
def read_model(model_id: ModelId, session: ReadSessionDep) -> ModelPublic:
    """Task, hyperparameters, final metrics (e.g. `final_accuracy`), the job that trained it,
    its name and tags, and the aliases pointing at it."""
    model = session.get(TrainedModel, model_id)
    if model is None:
        raise model_not_found(model_id)
    return _publics(session, [model])[0]


@router.delete(
    "/{model_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a model",
    operation_id="delete_models__model_id__delete",
    responses={
        **NOT_FOUND,
        409: documented_error(
            "An alias points at it, or a queued or running job continues it",
            "model 7 is what the alias(es) champion of next_word point at: move them to another "
            "model (PUT /models/{id}/aliases/{alias}) or remove them "
            "(DELETE /models/7/aliases/{alias}) first",
        ),
    },
)
def delete_model(model_id: ModelId, db: DatabaseDep, cache: ModelCacheDep) -> None:
    """Its weights are deleted and the space returned; refused while an alias points at it or
    a queued or running job continues it (`init_from_model`). The job that trained it stays
    (DELETE /jobs/{id} removes it next); the models it was the parent of lose the link."""
    deletion.delete_model(db, cache, model_id)


@router.put(
    "/{model_id}/aliases/{alias}",
    summary="Point an alias at a model",
    responses=NOT_FOUND,
)
def put_alias(model_id: ModelId, alias: AliasName, db: DatabaseDep) -> AliasPublic:
    """Moves the alias of the model's task here in one transaction (a reader never sees it
    missing); `?model=<alias>` then works wherever `model=` does."""
    return set_alias(db, model_id, alias)


@router.delete(
    "/{model_id}/aliases/{alias}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an alias",
    responses={404: {"description": "No such model, or it does not carry the alias"}},
)
def delete_alias(model_id: ModelId, alias: AliasName, db: DatabaseDep) -> None:
    """The alias no longer names any model of the task."""
    remove_alias(db, model_id, alias)
