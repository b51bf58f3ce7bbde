"""Request and response bodies (pydantic), named per resource: JobPublic, ModelPublic, ...
(the body of POST /train, derived from the task configs, is in hyperparams.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from rnnlab.service.schemas import error_examples, examples

OptimizerStateName = Literal["fresh", "from_checkpoint"]

JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobPublic(BaseModel):
    model_config = examples.shown(examples.JOB)

    id: int
    task: str
    status: JobStatusName
    progress: float = Field(ge=0, le=1)
    hyperparams: dict[str, Any]
    error: str | None
    attempt: int = Field(description="Runs started; a job whose worker died is retried.")
    cancel_requested: bool
    worker: str | None = Field(description="host:pid of the worker process running the job.")
    checkpoint_step: int | None = Field(description="Step of the last saved training state.")
    corpus_id: int | None
    model_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_seconds: float | None = Field(
        None, description="Seconds since the job started (to its end once finished)."
    )
    eta_seconds: float | None = Field(
        None, description="Seconds still to go at the pace so far; 0 once finished."
    )
    name: str | None = None
    tags: list[str] = Field(default_factory=list)
    sweep_id: int | None = Field(None, description="The sweep that queued this job, if any.")
    heartbeat_at: datetime | None = Field(None, description="Its worker's last report, as it runs.")
    status_detail: str | None = Field(
        None,
        description="Why the status is not what the job's last writer left: a job whose worker "
        "has been silent longer than RNNLAB_HEARTBEAT_TIMEOUT_SECONDS is shown `queued`, "
        "awaiting retry, until it is requeued or its worker reports again.",
    )
    parent_model_id: int | None = Field(
        None, description="The model this job trains further (`init_from_model`), if any."
    )
    optimizer_state: OptimizerStateName | None = Field(
        None,
        description="For a job that continues a model: `from_checkpoint` when it takes over the "
        "optimizer state of the parent's job checkpoint (still kept, same optimizer), else "
        "`fresh`.",
    )


class JobsPublic(BaseModel):
    model_config = examples.shown(examples.JOBS)

    jobs: list[JobPublic]
    count: int


class MetricPublic(BaseModel):
    name: str
    step: int
    value: float
    timestamp: datetime


class MetricsPublic(BaseModel):
    model_config = examples.shown(examples.METRICS)

    job_id: int
    metrics: list[MetricPublic]
    downsampled: bool = Field(
        False, description="True when some series had more than max_points points."
    )
    last_step: int | None = Field(
        None, description="The largest step returned: pass it as since_step to read on."
    )


class ModelPublic(BaseModel):
    model_config = examples.shown(examples.MODEL)

    id: int
    job_id: int
    task: str
    hyperparams: dict[str, Any]
    metrics: dict[str, Any]
    corpus_id: int | None
    sha256: str
    size_bytes: int
    created_at: datetime
    name: str | None = Field(None, description="The name of the job that trained it.")
    tags: list[str] = Field(default_factory=list, description="The tags of that job.")
    aliases: list[str] = Field(default_factory=list, description="Aliases pointing at it.")
    parent_model_id: int | None = Field(
        None, description="The model it was trained further from (`init_from_model`), if any."
    )


class ModelsPublic(BaseModel):
    model_config = examples.shown(examples.MODELS)

    models: list[ModelPublic]
    count: int


class CorpusPublic(BaseModel):
    model_config = examples.shown(examples.CORPUS)

    id: int
    name: str
    characters: int
    tokens: int
    vocabulary_size: int = Field(description="Distinct ids, the unknown token included.")
    unknown_threshold: int
    unknown_token_fraction: float
    unknown_token: str
    sha256: str
    created_at: datetime


class CorporaPublic(BaseModel):
    model_config = examples.shown(examples.CORPORA)

    corpora: list[CorpusPublic]
    count: int


class DictionaryEntry(BaseModel):
    id: int
    count: int


class DictionaryPublic(BaseModel):
    model_config = examples.shown(examples.DICTIONARY)

    corpus_id: int
    unknown_token: str
    words: dict[str, DictionaryEntry]


class BinaryAdditionPrediction(BaseModel):
    model_config = examples.shown(examples.BINARY_ADDITION_PREDICTION)

    sum: int
    bits: list[int] = Field(description="The predicted sum, most significant bit first.")
    probabilities: list[float] = Field(description="P(bit = 1) per bit, most significant first.")
    model_id: int
    model_selected_by: Literal["id", "alias", "default_alias", "newest"] | None = Field(
        None,
        description="How the model was chosen: the id or an alias given in `model=`, else the "
        "task's `default` alias, else the newest model.",
    )


class WordProbability(BaseModel):
    word: str
    probability: float
    unknown: bool = Field(False, description="True for the unknown-word token.")


class NextWordPrediction(BaseModel):
    model_config = examples.shown(examples.NEXT_WORD_PREDICTION)

    predictions: list[WordProbability]
    model_id: int
    context: list[str] = Field(description="The words the model read, after pre-processing.")
    unknown_words: list[str] = Field(description="Context words outside the dictionary.")
    model_selected_by: Literal["id", "alias", "default_alias", "newest"] | None = Field(
        None,
        description="How the model was chosen: the id or an alias given in `model=`, else the "
        "task's `default` alias, else the newest model.",
    )


class Generation(BaseModel):
    model_config = examples.shown(examples.GENERATION)

    text: str = Field(description="The prompt after pre-processing, then the continuation.")
    continuation: list[str]
    model_id: int
    unknown_words: list[str]
    model_selected_by: Literal["id", "alias", "default_alias", "newest"] | None = Field(
        None,
        description="How the model was chosen: the id or an alias given in `model=`, else the "
        "task's `default` alias, else the newest model.",
    )


class Health(BaseModel):
    model_config = examples.shown(examples.HEALTH)

    status: Literal["ok"]
    version: str


class ErrorPublic(BaseModel):
    """The body of every error the service answers itself (a 422 from validation lists its
    problems instead)."""

    model_config = examples.shown(error_examples.ERROR)

    detail: str = Field(description="What was wrong, and what is allowed instead.")
