"""The lr_* fields every task's config has: their bounds, written once, and the values
refused with a message saying what is allowed."""

from __future__ import annotations

import pytest

from rnnlab.models.tasks import TASKS

LR_FIELDS = ("lr_schedule", "lr_factor", "lr_step_every", "lr_patience", "lr_min", "lr_warmup")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_has_the_schedule_fields_with_bounds(task):
    bounds = TASKS[task].bounds()
    assert set(LR_FIELDS) <= set(bounds)
    assert bounds["lr_schedule"]["choices"] == ("constant", "step", "plateau", "cosine")
    assert bounds["lr_schedule"]["default"] == "constant"
    assert bounds["lr_factor"]["gt"] == 0 and bounds["lr_factor"]["lt"] == 1
    assert all(bounds[name]["description"] for name in LR_FIELDS)


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lr_schedule": "exponential"}, "one of constant, step, plateau, cosine"),
        ({"lr_factor": 1.0}, "lr_factor must be a number in (0, 1)"),
    ],
)
def test_schedule_settings_that_cannot_work_are_refused(task, values, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TASKS[task].config_class(**values)
