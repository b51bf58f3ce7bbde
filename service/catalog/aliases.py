"""Model aliases: a name per task (`default`, `champion`...) pointing at one model.

Moving an alias is one upsert of its (task, alias) row inside a write transaction, so a reader
sees the old model or the new one, never none. `default` is what /predict serves when no model
is named.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.service.errors import AliasNotFound, model_not_found
from rnnlab.service.schemas.experiments import AliasPublic
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import ModelAlias, TrainedModel, utcnow

DEFAULT_ALIAS = "default"


def alias_not_found(task: str, alias: str) -> AliasNotFound:
    return AliasNotFound(
        f"no {task} model has the alias {alias!r}: PUT /models/{{id}}/aliases/{alias} sets it"
    )


def _task_of(session: Session, model_id: int, lock: bool = False) -> str:
    """The task of the model; 404 when there is no such model. Locked, the model's row stays
    until the transaction ends: a deletion racing it waits, then finds the alias (409)."""
    query = select(TrainedModel.task).where(TrainedModel.id == model_id)
    task = session.scalar(query.with_for_update() if lock else query)
    if task is None:
        raise model_not_found(model_id)
    return task


def set_alias(db: Database, model_id: int, alias: str) -> AliasPublic:
    """Point `alias` of the model's task at `model_id` (moved from any other model)."""
    with db.write() as session:
        task = _task_of(session, model_id, lock=True)
        row = session.get(ModelAlias, (task, alias))
        previous = row.model_id if row is not None else None
        if row is None:
            row = ModelAlias(task=task, alias=alias, model_id=model_id)
            session.add(row)
        row.model_id = model_id
        row.updated_at = utcnow()
        session.flush()
        return AliasPublic(
            task=task,
            alias=alias,
            model_id=model_id,
            previous_model_id=previous,
            updated_at=row.updated_at,
        )


def remove_alias(db: Database, model_id: int, alias: str) -> None:
    """Remove `alias` from the model; 404 when the model does not carry it."""
    with db.write() as session:
        task = _task_of(session, model_id)
        row = session.get(ModelAlias, (task, alias))
        if row is None or row.model_id != model_id:
            raise AliasNotFound(
                f"model {model_id} has no alias {alias!r}: GET /models/{model_id} lists its aliases"
            )
        session.delete(row)


def aliases_by_model(session: Session, model_ids: Iterable[int]) -> dict[int, list[str]]:
    """model id -> its aliases, sorted."""
    rows = session.execute(
        select(ModelAlias.model_id, ModelAlias.alias)
        .where(ModelAlias.model_id.in_(list(model_ids)))
        .order_by(ModelAlias.alias)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for model_id, alias in rows:
        found[model_id].append(alias)
    return found


def alias_target(session: Session, task: str, alias: str) -> int | None:
    return session.scalar(
        select(ModelAlias.model_id).where(ModelAlias.task == task, ModelAlias.alias == alias)
    )
