"""Configuration: one pydantic-settings class, read from `RNNLAB_*` environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ANSWER_CACHE_SIZE = 4096  # encoded /predict answers kept per loaded model


def _default_worker_threads() -> int:
    # Every core: workers run niced (RNNLAB_WORKER_NICE), so a request still preempts training
    # (measured: binary /predict keeps its idle throughput while a 2-thread job trains).
    return os.cpu_count() or 1


class Settings(BaseSettings):
    """Every setting has an `RNNLAB_` environment variable, e.g. `RNNLAB_PORT=9000`."""

    model_config = SettingsConfigDict(env_prefix="RNNLAB_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    data_dir: Path = Field(Path("var"), description="Where the SQLite database and logs live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/rnnlab.db."
    )
    executor: Literal["local", "celery"] = Field(
        "local",
        description="Where jobs train: 'local' worker processes spawned by `rnnlab serve`, or "
        "'celery': `rnnlab worker` processes anywhere, through RNNLAB_BROKER_URL.",
    )
    broker_url: str | None = Field(
        None, description="The Celery broker (redis://host:6379/0 or amqp://user:pass@host//)."
    )
    broker_queue: str = Field(
        "rnnlab",
        min_length=1,
        max_length=200,
        description="The Celery queue jobs go through; on Redis also the prefix of every key, "
        "so that several services share one Redis without seeing each other's jobs.",
    )
    broker_visibility_timeout_seconds: float = Field(
        3600.0,
        gt=0,
        description="Redis: a delivered job not acknowledged this long is delivered again "
        "(the database claim drops the copy while the first run is alive).",
    )
    resend_after_seconds: float = Field(
        30.0,
        gt=0,
        description="Celery: a queued job no worker has claimed this long is sent again "
        "(a broker restart can lose messages; the database is the truth).",
    )
    max_concurrent_jobs: int = Field(1, ge=1, le=64, description="Worker processes.")
    worker_threads: int = Field(
        default_factory=_default_worker_threads, ge=1, description="Training threads per worker."
    )
    worker_nice: int = Field(10, ge=0, le=19, description="CPU niceness added to workers.")
    max_attempts: int = Field(3, ge=1, description="Attempts before a job is 'worker lost'.")
    heartbeat_timeout_seconds: float = Field(
        30.0, gt=0, description="A running job silent this long is treated as lost."
    )
    checkpoint_seconds: float = Field(10.0, gt=0, description="Checkpoint interval of a job.")
    shutdown_grace_seconds: float = Field(
        10.0,
        ge=0,
        description="On SIGINT/SIGTERM, how long running jobs get to checkpoint and stop "
        "(and open requests to finish) before they are killed.",
    )
    job_time_limit_seconds: float = Field(3600.0, gt=0, description="Wall-time limit per job.")
    max_queued_jobs: int = Field(100, ge=1, description="Queued jobs before 429.")
    job_memory_budget: int = Field(
        4 * 2**30, ge=2**20, description="Bytes a job may need (estimated) to be queued."
    )
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest corpus upload.")
    max_concurrent_uploads: int = Field(
        2,
        ge=1,
        le=64,
        description="Corpus uploads read at once; one more gets 429. Each holds about its body's "
        "size in memory while its dictionary is built.",
    )
    max_body_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest request body other than a corpus upload."
    )
    model_cache_size: int = Field(8, ge=1, description="Models kept in memory for /predict.")
    answer_cache_size: int = Field(
        DEFAULT_ANSWER_CACHE_SIZE,
        ge=0,
        description="/predict answers kept encoded per model (0: none; a task may ask to keep "
        "more, e.g. every answer of a table computed at load).",
    )
    events_poll_seconds: float = Field(
        0.1, gt=0, le=10, description="How often a watched job's new points are read."
    )
    events_keepalive_seconds: float = Field(
        15.0, gt=0, description="Idle seconds before an event stream sends a keep-alive comment."
    )
    max_open_streams: int = Field(
        500,
        ge=1,
        description="Event streams open at once (GET /jobs/{id}/events and GET /events "
        "together); one more is answered 503 with Retry-After.",
    )
    task_modules: str = Field(
        "",
        description="Importable modules, comma-separated, each registering a task of its own "
        "(rnnlab.models.tasks.register): read by every process, web and workers, when it "
        "first imports the task registry.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="A client gets this long from opening a connection (or, on a kept-alive "
        "one, from its request's first byte) to the end of its request's headers, then is "
        "answered 408 and cut off: a client trickling headers cannot hold a connection.",
    )
    root_path: str = Field(
        "",
        pattern=r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$",
        description="The path prefix a reverse proxy serves the service under and strips "
        "(e.g. /rnnlab): pages, /docs and the schema then name their URLs under it.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses (or *) of the proxies whose X-Forwarded-Proto "
        "and X-Forwarded-For are believed: the client's address and scheme are taken from them.",
    )
    api_key: str | None = Field(None, description="When set, mutating endpoints require it.")
    protect_reads: bool = Field(False, description="Require the API key for reads too.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'rnnlab.db').resolve()}"

    def executor_problem(self) -> str | None:
        """Why these settings cannot run their executor, or None when they can."""
        if self.executor != "celery":
            return None
        if not self.broker_url:
            return (
                "RNNLAB_EXECUTOR=celery needs RNNLAB_BROKER_URL "
                "(e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//)"
            )
        if not self.resolved_database_url.startswith("postgresql"):
            return (
                "RNNLAB_EXECUTOR=celery needs a database every machine reaches, not SQLite: "
                "set RNNLAB_DATABASE_URL=postgresql+psycopg://user@host/db"
            )
        return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
