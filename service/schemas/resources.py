"""Request and response bodies (pydantic), named per resource: JobCreate, JobPublic, ...

The hyperparameter schemas are derived from the task configs in models/tasks (each bound,
default and description is written once, in the config's ``param``): what the HTTP API accepts
and what /docs shows are the bounds the numpy config enforces.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from rnnlab.models.tasks import TASKS, Task
from rnnlab.models.tasks.config import BOUND_KEYS
from rnnlab.service.schemas import examples
from rnnlab.service.schemas.experiments import RunLabels
from rnnlab.service.schemas.ids import MAX_ID


class _Hyperparams(BaseModel):
    """Unknown names are rejected (422 naming them): a typo must not silently train defaults.

    Types are strict (`true` and `"16"` are not integers, `"0.1"` is not a number) and numbers
    finite: JSON's NaN, Infinity and 1e400 (which overflows) are refused, never trained on.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    task: ClassVar[Task]

    @model_validator(mode="after")
    def _check_with_numpy_config(self) -> _Hyperparams:
        # The numpy config checks the combinations; its ValueError becomes a 422 here.
        self.to_config()
        return self

    def to_config(self) -> Any:
        return self.task.make_config(self.model_dump())


class _JobCreate(RunLabels):
    """What every POST /train body shares (a name and tags); the task's own model adds `task`
    and `hyperparams`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    task: str
    hyperparams: _Hyperparams


def _camel(task_name: str) -> str:
    return "".join(part.title() for part in task_name.split("_"))


def _field(meta: Mapping[str, Any], name: str) -> tuple[Any, Any]:
    """The pydantic (annotation, Field) of a config field, from its bounds; `name` names a group's
    model (NextWordEarlyStopping): its fields are derived alike, checked as strictly."""
    kinds: dict[str, Any] = {"int": int, "float": float, "bool": bool}
    if meta["kind"] == "group":
        inner = {key: _field(field_meta, name) for key, field_meta in meta["fields"].items()}
        kinds["group"] = create_model(name, __config__=_Hyperparams.model_config, **inner)  # type: ignore[call-overload]
    annotation = kinds.get(meta["kind"]) or Literal[meta["choices"]]
    if meta["nullable"]:
        annotation = annotation | None
    bounds = {key: meta[key] for key in BOUND_KEYS if key in meta}
    return annotation, Field(meta["default"], description=meta["description"] or None, **bounds)


def hyperparams_model(task: Task) -> type[_Hyperparams]:
    """The request schema of a task's hyperparameters, derived from its config: each bound,
    default and description is the config's. A task that trains on a corpus also takes the
    service's `corpus_id`."""
    fields: dict[str, Any] = {}
    if task.needs_corpus:
        fields["corpus_id"] = (
            int | None,
            Field(None, ge=1, le=MAX_ID, description="Default: the demo corpus."),
        )
    fields.update({n: _field(m, _camel(f"{task.name}_{n}")) for n, m in task.bounds().items()})
    model = create_model(  # type: ignore[call-overload]
        f"{_camel(task.name)}Hyperparams", __base__=_Hyperparams, __module__=__name__, **fields
    )
    model.task = task
    return model  # type: ignore[no-any-return]


def job_create_model(task: Task, hyperparams: type[_Hyperparams]) -> type[_JobCreate]:
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{_camel(task.name)}JobCreate",
        __base__=_JobCreate,
        __module__=__name__,
        task=(Literal[task.name], ...),  # type: ignore[arg-type]
        hyperparams=(hyperparams, Field(default_factory=hyperparams)),
    )


HYPERPARAMS: dict[str, type[_Hyperparams]] = {
    name: hyperparams_model(task) for name, task in TASKS.items()
}
JOB_CREATES = tuple(job_create_model(TASKS[name], model) for name, model in HYPERPARAMS.items())

if TYPE_CHECKING:
    JobCreate = _JobCreate
else:  # one body model per task, told apart by `task`
    JobCreate = Annotated[Union[JOB_CREATES], Field(discriminator="task")]  # noqa: UP007

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

    model_config = examples.shown(examples.ERROR)

    detail: str = Field(description="What was wrong, and what is allowed instead.")
