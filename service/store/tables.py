"""Database tables (SQLAlchemy 2.0 typed ORM). Alembic migrations mirror these exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


# The ids clients hold (jobs, models, sweeps, corpora) are never given again after a deletion:
# SQLite otherwise reuses the largest id once its row is gone (migration 0007); PostgreSQL's
# sequences never go back.
NEVER_REUSED_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    FINISHED = (SUCCEEDED, FAILED, CANCELLED)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(32))
    hyperparams: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    corpus_id: Mapped[int | None] = mapped_column(ForeignKey("corpora.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    name: Mapped[str | None] = mapped_column(String(200))
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"))
    sweep_cell: Mapped[int | None] = mapped_column(Integer)  # index of its cell in the grid
    # The model it trains further (init_from_model), and whether it takes over the optimiser
    # state of that model's job checkpoint ("from_checkpoint") or starts it afresh ("fresh").
    # Deleting that model sets it to None (service/catalog/deletion.py); no foreign key: one
    # from jobs to models would close a cycle with models.job_id.
    parent_model_id: Mapped[int | None] = mapped_column(Integer)
    optimizer_state: Mapped[str | None] = mapped_column(String(16))

    model: Mapped[TrainedModel | None] = relationship(back_populates="job", lazy="joined")
    checkpoint: Mapped[Checkpoint | None] = relationship(lazy="joined", viewonly=True)
    tag_rows: Mapped[list[JobTag]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True, order_by="JobTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),
        Index("ix_jobs_name", "name"),
        Index("ix_jobs_sweep_id", "sweep_id"),
        Index("ix_jobs_parent_model_id", "parent_model_id"),
        NEVER_REUSED_IDS,
    )


class JobTag(Base):
    """One tag of a job: a row per tag, so that ?tag= is an indexed lookup on every database."""

    __tablename__ = "job_tags"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_job_tags_tag", "tag"),)


class Sweep(Base):
    """A grid of hyperparameter cells, each trained once per seed: its jobs point back here."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON)
    hyperparams: Mapped[dict[str, Any]]  # the base every cell starts from
    grid: Mapped[dict[str, Any]]  # name -> list of values, as requested
    cells: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # each cell's values, expanded
    seeds: Mapped[list[int]] = mapped_column(JSON)
    metric: Mapped[str] = mapped_column(String(64))  # the default ranking metric
    early_stopping: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (NEVER_REUSED_IDS,)


class ModelCatalog(Base):
    """One row whose `version` grows with every insert, update and delete of `models` and
    `model_aliases`, counted by triggers in the writer's transaction (migration 0006): reading
    it tells the web process whether its snapshot of the catalog is current
    (service/serving/model_refs.py)."""

    __tablename__ = "model_catalog"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class ModelAlias(Base):
    """A name (`default`, `champion`...) for one model of a task; moving it is one UPDATE."""

    __tablename__ = "model_aliases"

    task: Mapped[str] = mapped_column(String(32), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_model_aliases_model_id", "model_id"),)


class Metric(Base):
    __tablename__ = "metrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # One value per (job, name, step): a resumed job can never write a step twice.
        UniqueConstraint("job_id", "name", "step", name="uq_metrics_job_name_step"),
        # A job's points past a row id: what an event stream reads (service/tracking/reads.py).
        Index("ix_metrics_job_id_id", "job_id", "id"),
    )


class JobRecord(Base):
    """A teaching record a job stored beside its metrics (kinds: models/training.py RECORD_KINDS):
    the sums it answered, each bit's accuracy, gradient norms over time, generated text."""

    __tablename__ = "job_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    step: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]]
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        # One record of a kind per step: a resumed job can never write a step twice.
        UniqueConstraint("job_id", "kind", "step", name="uq_job_records_job_kind_step"),
        # A job's records past a row id: what an event stream reads.
        Index("ix_job_records_job_id_id", "job_id", "id"),
    )


class TrainedModel(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="RESTRICT"), unique=True)
    task: Mapped[str] = mapped_column(String(32))
    hyperparams: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    corpus_id: Mapped[int | None] = mapped_column(ForeignKey("corpora.id", ondelete="RESTRICT"))
    weights: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The model it was trained further from; deleting that model sets it to None
    # (service/catalog/deletion.py, as for jobs.parent_model_id).
    parent_model_id: Mapped[int | None] = mapped_column(Integer)

    job: Mapped[Job] = relationship(back_populates="model")

    __table_args__ = (
        Index("ix_models_task_id", "task", "id"),
        Index("ix_models_parent_model_id", "parent_model_id"),
        NEVER_REUSED_IDS,
    )


class Corpus(Base):
    __tablename__ = "corpora"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    characters: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)
    vocabulary_size: Mapped[int] = mapped_column(Integer)
    unknown_threshold: Mapped[int] = mapped_column(Integer)
    unknown_token_fraction: Mapped[float] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))
    dictionary: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    token_ids: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    token_dtype: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (NEVER_REUSED_IDS,)


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer)
    state: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # empty once in parts
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Its bytes are the CheckpointPart rows of this generation, in order (None: in `state`).
    generation: Mapped[int | None] = mapped_column(BigInteger)


class CheckpointPart(Base):
    """A few MB of a checkpoint, written in a transaction of its own
    (service/jobs/checkpoints.py)."""

    __tablename__ = "checkpoint_parts"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
