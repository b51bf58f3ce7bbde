"""The tasks, in one registry: a task is a package (config with its bounds, data, model, train,
predict, memory estimate, metric names) registered here.

    from rnnlab.models.tasks import TASKS
    task = TASKS["binary_addition"]
    result = task.train(task.make_config({"hidden_size": 8}), None, hooks, None)

To add a task: a package whose ``__init__`` defines ``TASK = Task(...)`` (models/tasks/task.py)
and calls ``register(TASK)``. The two tasks here are registered below; a task kept outside this
folder is named in ``RNNLAB_TASK_MODULES`` (importable modules, comma-separated), which every
process reads when it first imports this registry: the web process, so that its schemas list
the task, and every worker, so that it can train it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

from rnnlab.models.tasks.task import Corpus, Task

TASKS: dict[str, Task] = {}
TASK_MODULES_VARIABLE = "RNNLAB_TASK_MODULES"


def register(task: Task) -> Task:
    """Add `task` to TASKS under its name; registering the same task again changes nothing."""
    known = TASKS.get(task.name)
    if known is not None and known is not task:
        raise ValueError(f"a task named {task.name!r} is already registered")
    TASKS[task.name] = task
    return task


def import_task_modules(names: Iterable[str]) -> None:
    """Import each named module (which registers its task); blank names are skipped."""
    for name in names:
        if name.strip():
            importlib.import_module(name.strip())


def task_module_names(value: str | None = None) -> list[str]:
    """The modules named by `value`, by default the RNNLAB_TASK_MODULES environment variable."""
    text = os.environ.get(TASK_MODULES_VARIABLE, "") if value is None else value
    return [name.strip() for name in text.split(",") if name.strip()]


from rnnlab.models.tasks import binary_addition, next_word  # noqa: E402  (they register)

register(binary_addition.TASK)
register(next_word.TASK)
import_task_modules(task_module_names())

__all__ = ["TASKS", "Corpus", "Task", "import_task_modules", "register", "task_module_names"]
