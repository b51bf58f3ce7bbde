"""A job's checkpoint in the database, written in parts so that no write holds the lock long.

SQLite has one write lock. A checkpoint of tens of MB (weights and the optimiser's moments)
written in one transaction held it for as long as the whole blob took to write, and a cancel
or a submit waited behind it. So its bytes go in parts of PART_BYTES, each in its own
transaction, under a new `generation`; one short transaction then points the job's
`checkpoints` row at that generation (with the metrics flushed beside it), and the previous
generation's parts are deleted one per transaction. A crash in between leaves parts no row
points at: the next checkpoint or the job's end deletes them. PostgreSQL writes the same
parts; there they only keep each transaction short.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from rnnlab.service.store.blobs import sha256_hex
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Checkpoint, CheckpointPart, utcnow

PART_BYTES = 1 * 2**20  # one part's insert: the longest a request waits for the write lock


def save_checkpoint(
    db: Database, job_id: int, step: int, blob: bytes, in_swap: Callable[[Session], None]
) -> None:
    """Store `blob` as the job's checkpoint at `step`; `in_swap(session)` runs in the short
    transaction that makes it the current one (the metrics flush, the ownership check)."""
    generation = time.time_ns()  # unique per write, also across the runs of a resumed job
    view = memoryview(blob)
    for part, offset in enumerate(range(0, len(blob), PART_BYTES)):
        with db.write() as session:
            session.execute(
                insert(CheckpointPart).values(
                    job_id=job_id,
                    generation=generation,
                    part=part,
                    data=bytes(view[offset : offset + PART_BYTES]),
                )
            )
    values = {
        "step": step,
        "state": b"",
        "sha256": sha256_hex(blob),
        "created_at": utcnow(),
        "generation": generation,
    }
    with db.write() as session:
        in_swap(session)
        replaced = session.execute(
            update(Checkpoint).where(Checkpoint.job_id == job_id).values(values)
        )
        if replaced.rowcount == 0:  # type: ignore[attr-defined]
            session.execute(insert(Checkpoint).values(job_id=job_id, **values))
    _delete_parts_except(db, job_id, generation)


def read_checkpoint(db: Database, job_id: int) -> tuple[int, bytes, str] | None:
    """(step, bytes, sha256) of the job's checkpoint; None without one. Reads only."""
    with db.read() as session:
        row = session.execute(
            select(Checkpoint.step, Checkpoint.sha256, Checkpoint.generation).where(
                Checkpoint.job_id == job_id
            )
        ).first()
        if row is None:
            return None
        step, sha256, generation = row
        if generation is None:  # written before checkpoints had parts
            state = session.scalar(select(Checkpoint.state).where(Checkpoint.job_id == job_id))
            return step, state or b"", sha256
        parts = session.scalars(
            select(CheckpointPart.data)
            .where(CheckpointPart.job_id == job_id, CheckpointPart.generation == generation)
            .order_by(CheckpointPart.part)
        )
        return step, b"".join(parts), sha256


def delete_checkpoint(session: Session, job_id: int) -> None:
    """A job that has ended never resumes: its checkpoint (megabytes) is of no further use."""
    session.execute(delete(Checkpoint).where(Checkpoint.job_id == job_id))
    session.execute(delete(CheckpointPart).where(CheckpointPart.job_id == job_id))


def _delete_parts_except(db: Database, job_id: int, generation: int) -> None:
    """Delete the job's parts of other generations, one part per transaction."""
    with db.read() as session:
        stale = session.execute(
            select(CheckpointPart.generation, CheckpointPart.part).where(
                CheckpointPart.job_id == job_id, CheckpointPart.generation != generation
            )
        ).all()
    for old_generation, part in stale:
        with db.write() as session:
            session.execute(
                delete(CheckpointPart).where(
                    CheckpointPart.job_id == job_id,
                    CheckpointPart.generation == old_generation,
                    CheckpointPart.part == part,
                )
            )
