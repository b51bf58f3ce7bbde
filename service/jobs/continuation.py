"""Continuing a model: a job whose `init_from_model` names a trained model starts from its
weights instead of its seed's.

Checked before the job is queued: the model exists (404), is of the job's task, has the
hyperparameters that fix the weights' shapes (the task names them, `Task.shape_params`) and,
for a task that trains on a corpus, is continued on its own corpus or one with the same
dictionary (422 otherwise). Hyperparameters the request leaves out are the model's. The
optimiser starts fresh unless the model's job still keeps a checkpoint and the optimiser is
the same (`Task.optimizer_params`): then it takes over that checkpoint's state.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.models.tasks import Task
from rnnlab.models.training import Start
from rnnlab.service.catalog.aliases import alias_not_found, alias_target
from rnnlab.service.errors import InvalidInput, ModelNotFound, WrongTask, model_not_found
from rnnlab.service.jobs.checkpoints import read_checkpoint
from rnnlab.service.schemas.hyperparams import INIT_FROM_MODEL
from rnnlab.service.store.blobs import npz_to_arrays
from rnnlab.service.store.corpora import load_dictionary
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Checkpoint, TrainedModel
from rnnlab.service.store.tables import Corpus as CorpusRow

FRESH = "fresh"
FROM_CHECKPOINT = "from_checkpoint"
# Stored hyperparameters that are not the parent's to hand down.
NOT_INHERITED = (INIT_FROM_MODEL,)


def parent_model(session: Session, task: Task, ref: int | str) -> TrainedModel:
    """The model `ref` names (an id, or an alias of the task), kept from deletion until the
    job is stored (PostgreSQL's FOR KEY SHARE; SQLite's writes run one at a time)."""
    model_id = ref if isinstance(ref, int) else alias_target(session, task.name, ref)
    if model_id is None:
        raise alias_not_found(task.name, str(ref))
    model = session.scalar(
        select(TrainedModel).where(TrainedModel.id == model_id).with_for_update(key_share=True)
    )
    if model is None:
        raise model_not_found(model_id)
    if model.task != task.name:
        raise WrongTask(
            f"init_from_model: model {model_id} is a {model.task} model; a {task.name} job "
            f"continues a {task.name} model (GET /models?task={task.name} lists them)"
        )
    return model


def inherit(hyperparams: BaseModel, parent: TrainedModel) -> Any:
    """The request's hyperparameters over the parent's: those it leaves out are the parent's
    (its corpus included). A 422 when the two together do not make a valid job."""
    given = hyperparams.model_dump(include=hyperparams.model_fields_set)
    known = type(hyperparams).model_fields
    handed_down = {
        name: value
        for name, value in parent.hyperparams.items()
        if name in known and name not in NOT_INHERITED
    }
    try:
        return type(hyperparams).model_validate({**handed_down, **given})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'hyperparams'}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise InvalidInput(
            f"these hyperparameters over those of model {parent.id} (init_from_model) are not a "
            f"valid job: {problems}"
        ) from error


def parent_config(task: Task, parent: TrainedModel) -> Any:
    """The config the parent was trained with; a 422 when its stored hyperparameters no longer
    make one (bounds of an older version)."""
    try:
        return task.make_config(parent.hyperparams)
    except ValueError as error:
        raise InvalidInput(
            f"init_from_model: model {parent.id}'s hyperparameters are no longer valid ({error}): "
            "it cannot be continued; train a new model"
        ) from error


def check_shapes(task: Task, parent: TrainedModel, config: Any) -> None:
    """422 naming the shape-defining hyperparameters that differ from the parent's."""
    theirs = parent_config(task, parent)
    differing = [
        f"{name} {getattr(config, name)!r} (model {parent.id} has {getattr(theirs, name)!r})"
        for name in task.shape_params
        if getattr(config, name) != getattr(theirs, name)
    ]
    if differing:
        raise InvalidInput(
            f"init_from_model: model {parent.id}'s weights do not fit {', '.join(differing)}: "
            f"{', '.join(task.shape_params)} fix the weights' shapes and must be the model's "
            "(leave them out to keep them)"
        )


def check_corpus(session: Session, parent: TrainedModel, corpus: CorpusRow) -> None:
    """422 unless `corpus` is the parent's or has the same dictionary (the same words under
    the same ids: what the embedding and output rows stand for)."""
    if parent.corpus_id is None or corpus.id == parent.corpus_id:
        return
    words = load_dictionary(session, corpus.id).words
    if words == load_dictionary(session, parent.corpus_id).words:
        return
    raise InvalidInput(
        f"init_from_model: model {parent.id} was trained on corpus {parent.corpus_id}, and "
        f"corpus {corpus.id} has another dictionary (other words, or other ids): continue it "
        f"on corpus {parent.corpus_id} (leave corpus_id out) or on a corpus with the same "
        "dictionary"
    )


def optimizer_state(session: Session, task: Task, parent: TrainedModel, config: Any) -> str:
    """FROM_CHECKPOINT when the parent's job still keeps a checkpoint and the optimiser is the
    parent's; else FRESH."""
    theirs = parent_config(task, parent)
    if any(getattr(config, name) != getattr(theirs, name) for name in task.optimizer_params):
        return FRESH
    kept = session.scalar(select(Checkpoint.job_id).where(Checkpoint.job_id == parent.job_id))
    return FRESH if kept is None else FROM_CHECKPOINT


def load_start(db: Database, parent_model_id: int | None, state: str | None) -> Start:
    """What a continued job starts from: its parent's weights, and the optimiser state of the
    parent's job checkpoint when the plan said FROM_CHECKPOINT. A deletion of the parent is
    refused while the job is queued or running, so both are there."""
    with db.read() as session:
        row = session.execute(
            select(TrainedModel.weights, TrainedModel.sha256, TrainedModel.job_id).where(
                TrainedModel.id == parent_model_id
            )
        ).first()
    if row is None:
        raise ModelNotFound(
            f"the model this job continues ({parent_model_id}) no longer exists: train again "
            "from another model (init_from_model)"
        )
    weights, sha256, parent_job_id = row
    checkpoint = None
    if state == FROM_CHECKPOINT:
        stored = read_checkpoint(db, parent_job_id)
        if stored is None:
            raise ModelNotFound(
                f"the checkpoint of job {parent_job_id}, whose optimizer state this job takes "
                "over, no longer exists: train again (its optimizer then starts fresh)"
            )
        checkpoint = npz_to_arrays(stored[1], stored[2])
    return Start(npz_to_arrays(weights, sha256), checkpoint)
