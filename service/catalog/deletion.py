"""Deleting models and jobs, and giving the space back to the file system.

SQLite keeps freed pages inside the file unless told otherwise: the database is switched once to
`auto_vacuum=INCREMENTAL` (`prepare_space_reclaim`, at start-up), and after each deletion
`PRAGMA incremental_vacuum` returns the free pages and a WAL checkpoint truncates the log.
PostgreSQL reclaims with its own VACUUM (also run by autovacuum); we run it on the tables a
deletion touched so the space is reusable at once.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from rnnlab.service.errors import (
    InvalidState,
    JobNotFinished,
    ModelInUse,
    job_not_found,
    model_not_found,
)
from rnnlab.service.serving.model_cache import ModelCache
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobStatus, ModelAlias, TrainedModel

log = logging.getLogger(__name__)

INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
CHECKPOINT_BUSY_MS = 2_000  # how long a deletion waits for readers before leaving the WAL as is
MODEL_TABLES = ("models",)
JOB_TABLES = ("jobs", "metrics", "checkpoints", "checkpoint_parts", "job_tags")
CORPUS_TABLES = ("corpora",)


def _is_sqlite(db: Database) -> bool:
    return make_url(db.url).get_backend_name() == "sqlite"


def prepare_space_reclaim(db: Database) -> None:
    """Switch a SQLite database to incremental vacuum (a one-time VACUUM rewrites the file)."""
    if not _is_sqlite(db):
        return
    connection = db.write_engine.raw_connection()
    try:
        cursor = connection.cursor()
        (mode,) = cursor.execute("PRAGMA auto_vacuum").fetchone()
        if mode != INCREMENTAL:
            log.info("switching the database to incremental vacuum (one VACUUM)")
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
            cursor.execute("VACUUM")
        cursor.close()
    finally:
        connection.close()


def reclaim_space(db: Database, tables: tuple[str, ...]) -> None:
    """Give the pages freed by deletions from `tables` back; never fails the request that
    deleted (SQLite reclaims the whole file's free pages, PostgreSQL vacuums `tables`)."""
    try:
        if _is_sqlite(db):
            _reclaim_sqlite(db)
        else:
            with db.write_engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.execute(text(f"VACUUM {', '.join(tables)}"))
    except Exception:  # the rows are gone either way; the space comes back at the next one
        log.exception("reclaiming space failed")


def _reclaim_sqlite(db: Database) -> None:
    connection = db.write_engine.raw_connection()
    try:
        # executescript steps the pragma to its end; execute() would free a single page
        sqlite = connection.driver_connection
        assert sqlite is not None
        sqlite.executescript("PRAGMA incremental_vacuum;")
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
        try:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
    finally:
        connection.close()


def delete_model(db: Database, cache: ModelCache, model_id: int) -> None:
    """Delete a model and its weights; 409 while an alias points at it or a queued or running
    job continues it. The models and jobs it was the parent of lose the link."""
    with db.write() as session:
        # Locked before its aliases are read: an alias being set on it is either committed
        # and seen below (409), or waits and then finds no model (404); never a foreign-key
        # violation. A job that would continue it waits for the deletion too, then finds no
        # model (404), or the deletion waits for the job, then sees it (409). (SQLite's writers
        # take turns whole: no lock is needed there.)
        query = select(TrainedModel.task).where(TrainedModel.id == model_id)
        task = session.scalar(query.with_for_update())
        if task is None:
            raise model_not_found(model_id)
        _refuse_while_continued(session, model_id)
        aliases = session.scalars(
            select(ModelAlias.alias).where(ModelAlias.model_id == model_id)
        ).all()
        if aliases:
            names = ", ".join(sorted(aliases))
            raise ModelInUse(
                f"model {model_id} is what the alias(es) {names} of {task} point at: move them "
                f"to another model (PUT /models/{{id}}/aliases/{{alias}}) or remove them "
                f"(DELETE /models/{model_id}/aliases/{{alias}}) first"
            )
        for table in (TrainedModel, Job):  # as ON DELETE SET NULL would (tables.py says why not)
            session.execute(
                update(table).where(table.parent_model_id == model_id).values(parent_model_id=None)
            )
        session.execute(delete(TrainedModel).where(TrainedModel.id == model_id))
    cache.evict(model_id)
    reclaim_space(db, MODEL_TABLES)


def _refuse_while_continued(session: Session, model_id: int) -> None:
    """ModelInUse while a queued or running job starts from the model's weights."""
    active = (JobStatus.QUEUED, JobStatus.RUNNING)
    children = session.scalars(
        select(Job.id).where(Job.parent_model_id == model_id, Job.status.in_(active))
    ).all()
    if children:
        names = ", ".join(str(job_id) for job_id in sorted(children))
        raise ModelInUse(
            f"model {model_id} is what job(s) {names} continue (init_from_model), queued or "
            f"running: wait for them to finish, or cancel them (POST /jobs/{{id}}/cancel), first"
        )


def delete_job(db: Database, job_id: int) -> None:
    """Delete a finished job with its metrics, checkpoint and tags; 409 while it runs or while
    the model it trained exists."""
    with db.write() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise job_not_found(job_id)
        if job.status not in JobStatus.FINISHED:
            raise JobNotFinished(
                f"job {job_id} is {job.status}: cancel it first (POST /jobs/{job_id}/cancel), "
                "then delete it once it has stopped"
            )
        if job.model is not None:
            raise InvalidState(
                f"job {job_id} trained model {job.model.id}, which still exists: "
                f"DELETE /models/{job.model.id} first"
            )
        # metrics, checkpoints and job_tags go with it: ON DELETE CASCADE
        session.execute(delete(Job).where(Job.id == job_id))
    reclaim_space(db, JOB_TABLES)
