"""The task registry and the bounds every config writes once: each documented bound is the one
the config enforces, at the bound and just past it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from rnnlab.models.tasks import TASKS, Corpus, Task, register, task_module_names
from rnnlab.models.tasks.config import bounds, check, from_stored, param

FIELDS = [(name, field) for name in TASKS for field in TASKS[name].bounds()]


def test_the_registry_holds_both_tasks():
    assert list(TASKS) == ["binary_addition", "next_word"]
    for name, task in TASKS.items():
        assert isinstance(task, Task) and task.name == name
        config = task.make_config({})
        assert config == task.config_class()
        assert set(task.metric_names) and set(task.final_metric_names)
    assert TASKS["next_word"].needs_corpus and not TASKS["binary_addition"].needs_corpus


def _documents_kind_default_and_bounds(meta):
    assert meta["kind"] in ("int", "float", "bool", "str", "group")
    default = meta["default"]
    if default is None:
        assert meta["nullable"]
    if meta["kind"] == "int":
        assert {"ge", "le"} <= set(meta)
        assert default is None or meta["ge"] <= default <= meta["le"]
    if meta["kind"] == "str":
        assert default in meta["choices"]
    for inner in meta.get("fields", {}).values():  # a group's own fields: documented alike
        _documents_kind_default_and_bounds(inner)


@pytest.mark.parametrize(("task", "name"), FIELDS)
def test_every_field_documents_its_kind_default_and_bounds(task, name):
    check(TASKS[task].config_class())  # the defaults are inside their own bounds
    _documents_kind_default_and_bounds(TASKS[task].bounds()[name])


GROUPS = [(task, name) for task, name in FIELDS if TASKS[task].bounds()[name]["kind"] == "group"]


@pytest.mark.parametrize(("task", "name"), GROUPS)
def test_a_group_is_made_of_a_mapping_and_its_bounds_are_named_with_it(task, name):
    config_class = TASKS[task].config_class
    fields = TASKS[task].bounds()[name]["fields"]
    made = getattr(config_class(**{name: {}}), name)
    assert {key: getattr(made, key) for key in fields} == {
        key: inner["default"] for key, inner in fields.items()
    }
    assert config_class(**{name: None}) == config_class()  # off by default
    for key, inner in fields.items():
        if "ge" in inner:
            with pytest.raises(ValueError, match=f"^{name}.{key} must be"):
                config_class(**{name: {key: inner["ge"] - 1}})
    with pytest.raises(ValueError, match=f"unknown settings in {name}: nothing; allowed are"):
        config_class(**{name: {"nothing": 1}})
    with pytest.raises(ValueError, match=f"{name} must be null or an object of"):
        config_class(**{name: 3})
    stored = TASKS[task].make_config(
        {name: {key: inner["default"] for key, inner in fields.items()}}
    )
    assert dataclasses.asdict(stored)[name] == {
        key: inner["default"] for key, inner in fields.items()
    }


def _outside(meta, key):
    """A value just past bound `key`, and one exactly at it (None when the bound excludes it)."""
    bound = meta[key]
    step = 1 if meta["kind"] == "int" else max(abs(bound) * 1e-9, 1e-12)
    past = bound - step if key in ("ge", "gt") else bound + step
    at = bound if key in ("ge", "le") else None
    return past, at


@pytest.mark.parametrize(("task", "name"), FIELDS)
def test_every_documented_bound_is_enforced(task, name):
    task_entry = TASKS[task]
    meta = task_entry.bounds()[name]
    base = task_entry.config_class()
    for key in ("ge", "gt", "le", "lt"):
        if key not in meta:
            continue
        past, at = _outside(meta, key)
        with pytest.raises(ValueError, match=f"^{name} must be"):
            dataclasses.replace(base, **{name: past})
        if at is not None:
            assert getattr(dataclasses.replace(base, **{name: at}), name) == at
    for choice in meta.get("choices", ()):
        assert getattr(dataclasses.replace(base, **{name: choice}), name) == choice
    if "choices" in meta:
        with pytest.raises(ValueError, match=f"{name} must be one of {', '.join(meta['choices'])}"):
            dataclasses.replace(base, **{name: "nothing-of-the-kind"})


def test_a_nullable_number_accepts_null_and_nothing_else_that_is_not_a_number():
    for task in TASKS.values():
        config = task.config_class(clip_norm=None)
        assert config.clip_norm is None
        for bad in ("5", math.inf, True):
            with pytest.raises(ValueError, match="clip_norm must be"):
                task.config_class(clip_norm=bad)


def test_stored_hyperparameters_leave_out_names_the_config_does_not_know():
    config = TASKS["next_word"].make_config({"corpus_id": 3, "hidden_size": 8})
    assert config.hidden_size == 8
    assert from_stored(TASKS["binary_addition"].config_class, {"epochs": 3}).binary_dim == 8


def test_memory_estimates_grow_with_the_sizes_that_cost_memory():
    ba, nw = TASKS["binary_addition"], TASKS["next_word"]
    small = ba.memory_bytes(ba.make_config({}), None)
    assert ba.memory_bytes(ba.make_config({"hidden_size": 512}), None) > small
    corpus = Corpus(None, tokens=100_000, vocabulary_size=4000)
    bigger = Corpus(None, tokens=100_000, vocabulary_size=40_000)
    config = nw.make_config({})
    assert nw.memory_bytes(config, bigger) > nw.memory_bytes(config, corpus) > small
    with pytest.raises(ValueError, match="needs a corpus"):
        nw.memory_bytes(config, None)
    # keeping the best weights holds one more copy of the parameters
    last = nw.make_config({"restore_best": False})
    assert nw.memory_bytes(config, corpus) > nw.memory_bytes(last, corpus)
    stopping = ba.make_config({"early_stopping": {}})
    assert ba.memory_bytes(stopping, None) > small


@pytest.mark.parametrize("name", list(TASKS))
def test_early_stopping_follows_a_validation_metric_the_task_describes(name):
    """Its metric choices are metrics the run logs and curves show; which way is better is the
    task's, as for any other metric."""
    task = TASKS[name]
    choices = task.bounds()["early_stopping"]["fields"]["metric"]["choices"]
    assert set(choices) <= set(task.metric_names) & set(task.curve_metrics)
    assert all(metric.startswith("validation_") for metric in choices)
    assert not task.higher_is_better("validation_loss")
    assert task.higher_is_better("validation_accuracy")


def test_a_third_task_is_a_package_that_registers_itself():
    """What the registry asks of a task, shown on a toy one: a config made of `param` fields,
    and the callables; nothing else in models/ or the service has to know its name."""

    @dataclasses.dataclass(frozen=True)
    class EchoConfig:
        width: int = param(3, ge=1, le=10)

        def __post_init__(self) -> None:
            check(self)

    echo = Task(
        name="echo",
        config_class=EchoConfig,
        train=lambda config, corpus, hooks, resume: None,  # type: ignore[arg-type,return-value]
        predictor=lambda config, weights, corpus: None,
        memory_bytes=lambda config, corpus: 8 * config.width,
        metric_names=("loss",),
        final_metric_names=("final_loss",),
    )
    assert echo.make_config({"width": 4, "corpus_id": 1}) == EchoConfig(width=4)
    assert bounds(EchoConfig)["width"]["le"] == 10
    with pytest.raises(ValueError, match="width must be an integer from 1 to 10; got 11"):
        echo.make_config({"width": 11})
    assert np.int64(echo.memory_bytes(echo.make_config({}), None)) == 24
    assert echo.tokens_per_step(echo.make_config({})) is None  # it reads no tokens
    assert echo.serving is None and echo.export_graph is None  # trained, never served
    try:
        assert register(echo) is echo and TASKS["echo"] is echo
        assert register(echo) is echo  # again: nothing changes
        with pytest.raises(ValueError, match="already registered"):
            register(dataclasses.replace(echo, summary="another"))
    finally:
        TASKS.pop("echo", None)


def test_task_modules_are_named_comma_separated(monkeypatch):
    assert task_module_names(" a.b , c,,") == ["a.b", "c"]
    monkeypatch.setenv("RNNLAB_TASK_MODULES", "tests.toy")
    assert task_module_names() == ["tests.toy"]
    monkeypatch.delenv("RNNLAB_TASK_MODULES")
    assert task_module_names() == []


@pytest.mark.parametrize("name", list(TASKS))
def test_a_task_says_what_its_runs_are_compared_by(name):
    task = TASKS[name]
    assert set(task.ranked_metrics) <= set(task.final_metric_names)
    assert set(task.curve_metrics) <= set(task.metric_names)
    assert task.default_ranked_metric == task.ranked_metrics[0]
    assert (
        task.higher_is_better("final_loss" if "final_loss" in task.ranked_metrics else "loss")
        is False
    )
    assert any(task.higher_is_better(metric) for metric in task.ranked_metrics)


def test_tokens_a_step_come_from_the_task():
    next_word = TASKS["next_word"]
    bptt = next_word.make_config({"batch_size": 8, "seq_len": 12, "mode": "bptt"})
    assert next_word.tokens_per_step(bptt) == 96
    chunks = next_word.make_config({"batch_size": 8, "chunk_size": 20, "mode": "chunk"})
    assert next_word.tokens_per_step(chunks) == 160
    assert (
        TASKS["binary_addition"].tokens_per_step(TASKS["binary_addition"].make_config({})) is None
    )


@pytest.mark.parametrize("name", list(TASKS))
def test_a_served_task_says_which_query_asks_it_and_how_to_export_it(name):
    task = TASKS[name]
    assert task.serving is not None and task.serving.asking
    assert all(param.name.isidentifier() for param in task.serving.query)
    assert task.export_graph is not None
