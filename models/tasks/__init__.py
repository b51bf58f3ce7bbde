"""The tasks, in one registry: a task is a package (config with its bounds, data, model, train,
predict, memory estimate, metric names) and one line here.

    from rnnlab.models.tasks import TASKS
    task = TASKS["binary_addition"]
    result = task.train(task.make_config({"hidden_size": 8}), None, hooks, None)

To add a task: a package beside these two whose ``__init__`` defines ``TASK = Task(...)``
(models/tasks/task.py), and its line below.
"""

from __future__ import annotations

from rnnlab.models.tasks import binary_addition, next_word
from rnnlab.models.tasks.task import Corpus, Task

TASKS: dict[str, Task] = {
    binary_addition.TASK.name: binary_addition.TASK,
    next_word.TASK.name: next_word.TASK,
}

__all__ = ["TASKS", "Corpus", "Task"]
