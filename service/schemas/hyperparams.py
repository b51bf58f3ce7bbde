"""The body of POST /train: a model per task, its hyperparameters derived from the task's config
in models/tasks (each bound, default and description is written once, in the config's
``param``): what the HTTP API accepts and what /docs shows are the bounds the numpy config
enforces. The service adds its own: `corpus_id` for a task that trains on a corpus, and
`init_from_model` for a task that can continue a model."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    model_validator,
)

from rnnlab.models.tasks import TASKS, Task
from rnnlab.models.tasks.config import BOUND_KEYS
from rnnlab.service.schemas.experiments import ALIAS_PATTERN, RunLabels
from rnnlab.service.schemas.ids import MAX_ID

INIT_FROM_MODEL = "init_from_model"
# An id (as a number, or as digits: a form sends text) or an alias; an alias starts with a
# letter, so digits are always an id.
MODEL_REF_PATTERN = rf"^([1-9][0-9]{{0,8}}|{ALIAS_PATTERN[1:-1]})$"


def _model_ref(value: str | int | None) -> str | int | None:
    """The id or alias `value` names; checked here, whole, so that a refusal names the field."""
    if isinstance(value, str):
        if not re.match(MODEL_REF_PATTERN, value):
            raise ValueError(
                "a model id or an alias (lower-case letters, digits, _ and -, starting with a "
                f"letter), got {value!r}"
            )
        return int(value) if value.isdigit() else value
    if value is not None and not 1 <= value <= MAX_ID:
        raise ValueError(f"a model id is in 1..{MAX_ID}, got {value}")
    return value


ModelRef = Annotated[
    str | int | None,
    AfterValidator(_model_ref),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": MODEL_REF_PATTERN},
                {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                {"type": "null"},
            ]
        }
    ),
]


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
    service's `corpus_id`, and one that can continue a model its `init_from_model`."""
    fields: dict[str, Any] = {}
    if task.needs_corpus:
        fields["corpus_id"] = (
            int | None,
            Field(None, ge=1, le=MAX_ID, description="Default: the demo corpus."),
        )
    if task.can_continue:
        fields[INIT_FROM_MODEL] = (
            ModelRef,
            Field(
                None,
                description="Train further from this model: its id, or an alias of the task. "
                "The job starts from its weights; the hyperparameters not given are its own.",
            ),
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
