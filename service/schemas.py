"""Request and response bodies (pydantic), named per resource: JobCreate, JobPublic, ...

Hyperparameter defaults come from the numpy configs in models/, so there is one place to change
them; the bounds here are what the HTTP API accepts and what /docs shows.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.tasks.binary_addition import BinaryAdditionConfig
from models.tasks.config import MAX_SEED
from models.tasks.next_word import NextWordConfig
from service import schema_examples as examples

_BA = BinaryAdditionConfig()
_NW = NextWordConfig()

# Ids are 32-bit integer columns (PostgreSQL's INTEGER): larger ones can't exist, and would
# overflow the driver instead of answering 404.
MAX_ID = 2**31 - 1
MAX_BINARY_DIM = 32
# The largest addend any binary-addition model takes (binary_dim 32); each model takes
# 0..2^(binary_dim - 1) - 1, and says so in its 422.
MAX_OPERAND = 2 ** (MAX_BINARY_DIM - 1) - 1
# PostgreSQL cannot store a NUL character in text: every text parameter refuses it, on every
# backend, so that no answer depends on the database behind the service.
NO_NUL = r"^[^\x00]*$"

Cell = Literal["rnn", "lstm", "gru"]
Init = Literal["normal", "xavier", "he"]
Optimizer = Literal["sgd", "momentum", "adagrad", "rmsprop", "adam"]


_GRADIENT_NORMS_EVERY = "Steps between gradient-norm records (the heat map); null: none."


class _Hyperparams(BaseModel):
    """Unknown names are rejected (422 naming them): a typo must not silently train defaults.

    Types are strict (`true` and `"16"` are not integers, `"0.1"` is not a number) and numbers
    finite: JSON's NaN, Infinity and 1e400 (which overflows) are refused, never trained on.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    config_class: ClassVar[type[Any]]

    @model_validator(mode="after")
    def _check_with_numpy_config(self) -> _Hyperparams:
        # The numpy config checks the combinations; its ValueError becomes a 422 here.
        self.to_config()
        return self

    def to_config(self) -> Any:
        names = {f.name for f in dataclasses.fields(self.config_class)}
        return self.config_class(**{k: v for k, v in self.model_dump().items() if k in names})


class BinaryAdditionHyperparams(_Hyperparams):
    config_class = BinaryAdditionConfig

    binary_dim: int = Field(_BA.binary_dim, ge=2, le=MAX_BINARY_DIM, description="Bits per number.")
    hidden_size: int = Field(_BA.hidden_size, ge=1, le=1024)
    cell: Cell = cast(Cell, _BA.cell)
    num_layers: int = Field(_BA.num_layers, ge=1, le=3)
    activation: Literal["sigmoid", "tanh", "relu"] = Field(
        cast(Literal["sigmoid", "tanh", "relu"], _BA.activation),
        description="Hidden activation of the rnn cell.",
    )
    init: Init = cast(Init, _BA.init)
    init_std: float = Field(_BA.init_std, gt=0, le=100, description="Std for init='normal'.")
    bias: bool = Field(_BA.bias, description="Biases in the cell (the notes have none).")
    optimizer: Optimizer = cast(Optimizer, _BA.optimizer)
    learning_rate: float = Field(_BA.learning_rate, gt=0, le=100)
    batch_size: int = Field(_BA.batch_size, ge=1, le=65536, description="1 reproduces the notes.")
    iterations: int = Field(_BA.iterations, ge=1, le=10_000_000, description="Most steps.")
    clip_norm: float | None = Field(_BA.clip_norm, gt=0, description="Global gradient-norm cap.")
    loss: Literal["mse", "bce"] = cast(Literal["mse", "bce"], _BA.loss)
    seed: int = Field(_BA.seed, ge=0, le=MAX_SEED)
    log_every: int = Field(_BA.log_every, ge=1, le=10_000_000, description="Steps per metric.")
    stop_at_accuracy: float = Field(
        _BA.stop_at_accuracy, ge=0, le=1, description="Stop once all-pairs accuracy reaches it."
    )
    teaching_views: bool = Field(_BA.teaching_views, description="Fixed sums, bit accuracy.")
    gradient_norms_every: int | None = Field(
        _BA.gradient_norms_every, ge=1, le=10_000_000, description=_GRADIENT_NORMS_EVERY
    )


class NextWordHyperparams(_Hyperparams):
    config_class = NextWordConfig

    corpus_id: int | None = Field(None, ge=1, le=MAX_ID, description="Default: the demo corpus.")
    cell: Cell = cast(Cell, _NW.cell)
    peephole: bool = Field(_NW.peephole, description="LSTM gates see the cell state.")
    num_layers: int = Field(_NW.num_layers, ge=1, le=3)
    hidden_size: int = Field(_NW.hidden_size, ge=1, le=4096)
    embedding_size: int = Field(_NW.embedding_size, ge=1, le=4096)
    dropout: float = Field(_NW.dropout, ge=0, lt=1)
    init: Init = cast(Init, _NW.init)
    optimizer: Optimizer = cast(Optimizer, _NW.optimizer)
    learning_rate: float = Field(_NW.learning_rate, gt=0, le=10)
    batch_size: int = Field(_NW.batch_size, ge=1, le=4096)
    seq_len: int = Field(_NW.seq_len, ge=1, le=1000)
    epochs: int = Field(_NW.epochs, ge=1, le=100_000)
    mode: Literal["bptt", "chunk"] = cast(Literal["bptt", "chunk"], _NW.mode)
    chunk_size: int = Field(_NW.chunk_size, ge=1, le=1000)
    clip_norm: float | None = Field(_NW.clip_norm, gt=0)
    # Narrower than the model's (0, 1): outside this range one of the two windows is nearly
    # always empty, and the 422 would name the corpus length instead of this field.
    test_fraction: float = Field(
        _NW.test_fraction, ge=0.01, le=0.9, description="The last fraction of tokens, for testing."
    )
    seed: int = Field(_NW.seed, ge=0, le=MAX_SEED)
    log_every: int = Field(_NW.log_every, ge=1, le=10**9, description="Steps per metric.")
    teaching_views: bool = Field(_NW.teaching_views, description="Text at each epoch end.")
    gradient_norms_every: int | None = Field(
        _NW.gradient_norms_every, ge=1, le=10_000_000, description=_GRADIENT_NORMS_EVERY
    )


class BinaryAdditionJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    task: Literal["binary_addition"]
    hyperparams: BinaryAdditionHyperparams = Field(default_factory=BinaryAdditionHyperparams)


class NextWordJobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    task: Literal["next_word"]
    hyperparams: NextWordHyperparams = Field(default_factory=NextWordHyperparams)


JobCreate = Annotated[BinaryAdditionJobCreate | NextWordJobCreate, Field(discriminator="task")]

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


class Generation(BaseModel):
    model_config = examples.shown(examples.GENERATION)

    text: str = Field(description="The prompt after pre-processing, then the continuation.")
    continuation: list[str]
    model_id: int
    unknown_words: list[str]


class Health(BaseModel):
    model_config = examples.shown(examples.HEALTH)

    status: Literal["ok"]
    version: str


class ErrorPublic(BaseModel):
    """The body of every error the service answers itself (a 422 from validation lists its
    problems instead)."""

    model_config = examples.shown(examples.ERROR)

    detail: str = Field(description="What was wrong, and what is allowed instead.")
