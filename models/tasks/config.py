"""Hyperparameters with their bounds written once, beside their defaults.

A task's config is a frozen dataclass whose fields are made by ``param``: the default and the
bounds (ge, gt, le, lt for numbers; choices for names; nullable for an optional number) live in
the field's metadata, in the terms of pydantic's ``Field`` and OpenAPI's schema keywords, so the
service can derive its request schema from the config (``bounds``) and both check the same
bounds. ``check`` enforces them in the config's ``__post_init__``.

A ``group_param`` is an optional group of settings that belong together (early stopping's
metric, patience and min_delta): a frozen dataclass of its own params, off (None) by default,
given as a mapping of its fields (those left out take their defaults).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np

from rnnlab.models.schedules import SCHEDULES

C = TypeVar("C")
# The largest seed: a float64 holds every integer up to 2^53, so any JSON client (and the API
# schema, whose bounds are written as floats) reads it exactly.
MAX_SEED = 2**53 - 1
BOUND_KEYS = ("ge", "gt", "le", "lt")


def param(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[str] | None = None,
    nullable: bool = False,
    description: str = "",
) -> Any:
    """A config field: its default, its bounds and a one-line description for the API docs."""
    given = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    meta: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if choices is not None:
        meta["choices"] = tuple(choices)
    meta["nullable"] = nullable
    meta["description"] = description
    return dataclasses.field(default=default, metadata=MappingProxyType(meta))


def group_param(group: type, description: str) -> Any:
    """An optional group of settings: None (off) by default, else an instance of `group` (a
    frozen dataclass of params), which a mapping of its fields is made into."""
    meta = {"group": group, "nullable": True, "description": description}
    return dataclasses.field(default=None, metadata=MappingProxyType(meta))


# Fields every task has, written once so that the API documents them alike.
def seed_param() -> Any:
    return param(0, ge=0, le=MAX_SEED)


def clip_norm_param(default: float | None) -> Any:
    return param(default, gt=0, nullable=True, description="Global gradient-norm cap.")


def gradient_norms_param(default: int) -> Any:
    return param(
        default,
        ge=1,
        le=10_000_000,
        nullable=True,
        description="Steps between two records of the gradient's norm at each time step "
        "(the vanishing-gradient heat map); null: none.",
    )


def implementation_param(choices: Sequence[str]) -> Any:
    return param(
        "fast",
        choices=choices,
        description="Train on the fast layers or the textbook ones (same curve, slower).",
    )


# The learning-rate schedule's fields (models/schedules.py), alike in every task but for the unit
# of `lr_step_every` and what `lr_patience` counts, which each task's config writes itself.
def lr_schedule_param() -> Any:
    return param(
        "constant",
        choices=SCHEDULES,
        description="How the learning rate changes: constant, step (x lr_factor every "
        "lr_step_every), plateau (x lr_factor when the loss stops improving) or cosine (linear "
        "warm-up over lr_warmup steps, then down to lr_min at the last step).",
    )


def lr_factor_param() -> Any:
    return param(0.25, gt=0, lt=1, description="What step and plateau multiply the rate by.")


def lr_min_param() -> Any:
    return param(0.0, ge=0, le=100, description="plateau's floor and cosine's last rate.")


def dropout_param(note: str = "") -> Any:
    """Keras's `dropout` on every recurrent layer; `note` adds to its description."""
    return param(
        0.0,
        ge=0,
        lt=1,
        description="Share of each recurrent layer's input units dropped in training, one mask "
        f"per sequence (Keras's dropout{note}).",
    )


def recurrent_dropout_param(note: str = "") -> Any:
    """Keras's `recurrent_dropout` on every recurrent layer; `note` adds to its description."""
    return param(
        0.0,
        ge=0,
        lt=1,
        description="Share of each recurrent layer's state units dropped where the state meets "
        f"the recurrent weights, one mask per sequence (Keras's recurrent_dropout{note}).",
    )


def lr_warmup_param() -> Any:
    return param(
        0,
        ge=0,
        le=10_000_000,
        description="cosine: steps of linear warm-up to learning_rate (the others have none).",
    )


def bounds(config_class: type) -> dict[str, Mapping[str, Any]]:
    """Every field's metadata by name, plus its ``kind`` (int, float, bool, str, or group) and
    default; a group's own fields' bounds are under ``fields``."""
    result: dict[str, Mapping[str, Any]] = {}
    for f in dataclasses.fields(config_class):
        meta = {**f.metadata, "kind": _kind(f), "default": f.default}
        if "group" in f.metadata:
            meta["fields"] = bounds(f.metadata["group"])
        result[f.name] = MappingProxyType(meta)
    return result


def check(config: Any) -> None:
    """ValueError naming the first field of `config` that breaks its bounds, and what is allowed.

    A group given as a mapping is made into its dataclass here (the config is frozen: this is
    its one chance), its problems named with the group's name first: early_stopping.patience.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None and f.metadata.get("nullable"):
            continue
        if "group" in f.metadata:
            object.__setattr__(config, f.name, _group(f.name, f.metadata["group"], value))
            continue
        problem = _problem(_kind(f), value, f.metadata)
        if problem:
            raise ValueError(f"{f.name} must be {problem}; got {value!r}")


def _group(name: str, group: type, value: Any) -> Any:
    """`value` (a mapping of the group's fields, or the group itself) as the group's dataclass."""
    if isinstance(value, group):
        return value
    if not isinstance(value, Mapping):
        fields = ", ".join(f.name for f in dataclasses.fields(group))
        raise ValueError(f"{name} must be null or an object of {fields}; got {value!r}")
    known = [f.name for f in dataclasses.fields(group)]
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(
            f"unknown settings in {name}: {', '.join(map(str, unknown))}; "
            f"allowed are {', '.join(known)}"
        )
    try:
        return group(**value)
    except ValueError as error:  # the group's own check names the field
        raise ValueError(f"{name}.{error}") from None


def from_dict(config_class: type[C], values: Mapping[str, Any]) -> C:
    """The config of `values`, rejecting unknown names with a message listing the known ones."""
    known = {f.name for f in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"unknown hyperparameters {', '.join(unknown)}: allowed are {', '.join(sorted(known))}"
        )
    return config_class(**values)


def from_stored(config_class: type[C], values: Mapping[str, Any]) -> C:
    """The config of stored hyperparameters: names the config does not know (a job's
    corpus_id, settings of a newer version) are left out."""
    known = {f.name for f in dataclasses.fields(config_class)}  # type: ignore[arg-type]
    return config_class(**{k: v for k, v in values.items() if k in known})


def _kind(f: dataclasses.Field) -> str:
    if "group" in f.metadata:
        return "group"
    annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return annotation.split("|")[0].strip()


def _problem(kind: str, value: Any, meta: Mapping[str, Any]) -> str | None:
    """What `value` should have been, or None when it is fine."""
    if kind == "bool":
        return None if isinstance(value, bool | np.bool_) else "true or false"
    if kind == "str":
        choices = meta.get("choices", ())
        return None if value in choices else f"one of {', '.join(choices)}"
    if kind == "int":
        ok = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
        if ok and _inside(value, meta):
            return None
        return f"an integer from {meta['ge']} to {meta['le']}"
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )
    if ok and math.isfinite(value) and _inside(value, meta):
        return None
    return f"a number {_interval(meta)}"


def _inside(value: float, meta: Mapping[str, Any]) -> bool:
    return (
        ("ge" not in meta or value >= meta["ge"])
        and ("gt" not in meta or value > meta["gt"])
        and ("le" not in meta or value <= meta["le"])
        and ("lt" not in meta or value < meta["lt"])
    )


def _interval(meta: Mapping[str, Any]) -> str:
    """'in [0, 1)', '> 0', '<= 100'... as the bounds in `meta` say."""
    low = f"[{meta['ge']}" if "ge" in meta else f"({meta['gt']}" if "gt" in meta else None
    high = f"{meta['le']}]" if "le" in meta else f"{meta['lt']})" if "lt" in meta else None
    if low and high:
        return f"in {low}, {high}"
    if low:
        return f"{'>=' if 'ge' in meta else '>'} {low[1:]}"
    if high:
        return f"{'<=' if 'le' in meta else '<'} {high[:-1]}"
    return "(finite)"


@dataclass(frozen=True)
class EarlyStopping:
    """Stop once `metric` (a validation figure) has not improved by more than `min_delta` for
    `patience` validations in a row. A task narrows `metric` to its own validation figures."""

    metric: str = param("validation_loss", choices=("validation_loss",))
    patience: int = param(
        3, ge=1, le=100_000, description="Validations without improvement before the run stops."
    )
    min_delta: float = param(
        0.0, ge=0, le=1e6, description="The least change that counts as an improvement."
    )

    def __post_init__(self) -> None:
        check(self)


def restore_best_param() -> Any:
    return param(
        True,
        description="Keep the weights of the best validation point, not the last "
        "(when the run validates).",
    )
