"""Request and response bodies of experiments: run labels, sweeps, aliases (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from rnnlab.models.tasks import TASKS
from rnnlab.service.schemas.text import NO_CONTROL, Text

TASK_NAMES = tuple(TASKS)
if TYPE_CHECKING:  # the registry's names are known only at run time
    TaskName = str
else:  # the schema lists them: an unknown task is a 422 naming the known ones
    TaskName = Literal[TASK_NAMES]

TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]
# An alias starts with a letter, so that ?model=12 is always an id and ?model=champion an alias.
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
MAX_TAGS = 20
MAX_SWEEP_RUNS = 500
MAX_GRID_VALUES = 50
# A hyperparameter's value: every one is a number, a string, a boolean or null.
Value = bool | int | float | Text | None
# A name for runs and the filters on it (GET /jobs?name=...): 1-200 characters, no control.
NAME_BOUNDS: dict[str, Any] = {"min_length": 1, "max_length": 200, "pattern": NO_CONTROL}


class RunLabels(BaseModel):
    """A name and tags, for finding runs again (`GET /jobs?name=&tag=`)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None,
        **NAME_BOUNDS,
        description="A name for the run; need not be unique; no control characters.",
    )
    tags: list[Tag] = Field(
        default_factory=list,
        max_length=MAX_TAGS,
        description="Labels: letters, digits, `_.:-`, 1-64 characters, starting alphanumeric.",
    )

    @field_validator("tags")
    @classmethod
    def _unique(cls, tags: list[str]) -> list[str]:
        return list(dict.fromkeys(tags))


class EarlyStopping(BaseModel):
    """The median rule: a run whose running mean of `metric` up to step s is worse than the
    median of its peers' running means up to the same step stops (status `cancelled`, the
    reason in `error`)."""

    model_config = ConfigDict(extra="forbid")

    metric: Text | None = Field(
        None,
        max_length=64,
        description="A metric logged on the step axis; default `loss` (binary addition) or "
        "`validation_loss` (next word).",
    )
    min_progress: float = Field(
        0.25, ge=0, le=1, description="No run stops before this fraction of its training."
    )
    min_peers: int = Field(3, ge=1, le=1000, description="Peers that must have reached step s.")


class SweepCreate(RunLabels):
    """One job per cell of the grid and per seed, each `hyperparams` overridden by its cell."""

    task: TaskName
    hyperparams: dict[Text, Value] = Field(
        default_factory=dict, description="The base hyperparameters of every cell."
    )
    grid: dict[Text, Annotated[list[Value], Field(min_length=1, max_length=MAX_GRID_VALUES)]] = (
        Field(
            default_factory=dict,
            description="Hyperparameter name -> values (1-50); the cells are every combination. "
            f"A sweep has at most {MAX_SWEEP_RUNS} runs (cells x seeds), and no more than "
            "RNNLAB_MAX_QUEUED_JOBS.",
        )
    )
    cells: list[dict[Text, Value]] = Field(
        default_factory=list,
        max_length=MAX_GRID_VALUES,
        description='Cells that are not a product, e.g. `[{"init": "he", "activation": '
        '"relu"}, ...]`; with a grid too, each is combined with every grid combination.',
    )
    seeds: list[Annotated[int, Field(ge=0, le=2**63 - 1)]] = Field(
        default_factory=lambda: [0], min_length=1, max_length=100
    )
    metric: Text | None = Field(
        None,
        max_length=64,
        description="Final metric ranking the cells; default `final_loss` (binary addition) "
        "or `test_perplexity` (next word). GET /sweeps/{id}?metric= ranks by another.",
    )
    early_stopping: EarlyStopping | None = Field(None, description="Off unless given.")


class MetricSummary(BaseModel):
    mean: float
    std: float = Field(description="Standard deviation over the seeds (0 for one run).")
    min: float
    max: float
    n: int = Field(description="Runs that reported it (succeeded runs).")


class SweepRun(BaseModel):
    job_id: int
    seed: int
    status: str
    diverged: bool = Field(description="The loss became NaN or overflowed; `error` says when.")
    early_stopped: bool
    error: str | None
    model_id: int | None
    metrics: dict[str, Any]


class SweepCell(BaseModel):
    index: int
    params: dict[str, Any] = Field(description="This cell's values of the grid.")
    runs: int
    queued: int
    running: int
    succeeded: int
    diverged: int = Field(description="Runs that failed because the loss became NaN/infinite.")
    failed: int = Field(description="Runs that failed for any other reason.")
    cancelled: int
    early_stopped: int
    metrics: dict[str, MetricSummary] = Field(description="Final metrics over succeeded runs.")
    rank: int | None = Field(description="1 is best by the ranking metric; None: no result.")
    jobs: list[SweepRun]


class RankEntry(BaseModel):
    rank: int
    cell: int
    params: dict[str, Any]
    mean: float
    std: float
    n: int


SweepStatus = Literal["queued", "running", "finished", "cancelled"]


class SweepSummary(BaseModel):
    id: int
    task: str
    name: str | None
    tags: list[str]
    status: SweepStatus
    progress: float = Field(ge=0, le=1)
    runs: int
    counts: dict[str, int] = Field(description="Runs by status, plus `diverged`.")
    metric: str
    created_at: datetime


class SweepPublic(SweepSummary):
    hyperparams: dict[str, Any]
    grid: dict[str, list[Any]]
    seeds: list[int]
    early_stopping: EarlyStopping | None
    ranked_by: str
    order: Literal["ascending", "descending"] = Field(description="Of the ranking metric.")
    ranking: list[RankEntry]
    cells: list[SweepCell]


class SweepsPublic(BaseModel):
    sweeps: list[SweepSummary]
    count: int


class AliasPublic(BaseModel):
    task: str
    alias: str
    model_id: int
    previous_model_id: int | None = Field(description="Where the alias pointed before, if any.")
    updated_at: datetime
