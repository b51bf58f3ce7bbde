"""Hyperparameters with their bounds written once, beside their defaults.

A task's config is a frozen dataclass whose fields are made by ``param``: the default and the
bounds (ge, gt, le, lt for numbers; choices for names; nullable for an optional number) live in
the field's metadata, in the terms of pydantic's ``Field`` and OpenAPI's schema keywords, so the
service can derive its request schema from the config (``bounds``) and both check the same
bounds. ``check`` enforces them in the config's ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
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


def lr_warmup_param() -> Any:
    return param(
        0,
        ge=0,
        le=10_000_000,
        description="cosine: steps of linear warm-up to learning_rate (the others have none).",
    )


def bounds(config_class: type) -> dict[str, Mapping[str, Any]]:
    """Every field's metadata by name, plus its ``kind`` (int, float, bool, str) and default."""
    return {
        f.name: MappingProxyType({**f.metadata, "kind": _kind(f), "default": f.default})
        for f in dataclasses.fields(config_class)
    }


def check(config: Any) -> None:
    """ValueError naming the first field of `config` that breaks its bounds, and what is allowed."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None and f.metadata.get("nullable"):
            continue
        problem = _problem(_kind(f), value, f.metadata)
        if problem:
            raise ValueError(f"{f.name} must be {problem}; got {value!r}")


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
