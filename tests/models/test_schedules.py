"""The learning-rate schedules on their own: each one's rates, plateau's memory and what a
checkpoint of it restores (tests/models/test_schedules_torch.py holds them against torch)."""

from __future__ import annotations

import itertools
import math

import pytest

from rnnlab.models.schedules import SCHEDULES, make_schedule


def rates(schedule, steps, losses=(), start=0):
    """The rate of steps start..steps-1; losses[k] is observed after step k (an evaluation)."""
    out = []
    for k in range(start, steps):
        out.append(schedule.rate(k))
        if k < len(losses):
            schedule.observe(losses[k])
    return out


def test_constant_is_the_given_rate_exactly():
    schedule = make_schedule("constant", 0.05)
    assert rates(schedule, 5, [3.0, 4.0, 5.0]) == [0.05] * 5
    assert schedule.state_dict() == {}


def test_step_multiplies_every_n_steps():
    assert rates(make_schedule("step", 1.0, factor=0.5, every=2), 6) == [1, 1, 0.5, 0.5, 0.25, 0.25]


def test_plateau_waits_patience_evaluations_then_cuts_down_to_its_floor():
    schedule = make_schedule("plateau", 1.0, factor=0.5, patience=1, min_rate=0.2)
    # best 3, then 3 (no better), 4 (second in a row: cut), 2 (best), 2, 2 (cut), 5, 5 (cut to
    # 0.125, floored at 0.2), 5, 5 (already at the floor)
    losses = [3, 3, 4, 2, 2, 2, 5, 5, 5, 5]
    assert rates(schedule, 11, losses) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2]


def test_plateau_patience_zero_is_the_word_language_model_example():
    """Divide by 4 at every evaluation that is not a new best (PyTorch's example)."""
    schedule = make_schedule("plateau", 20.0, factor=0.25, patience=0)
    assert rates(schedule, 5, [5.0, 4.0, 4.5, 3.0, 3.0]) == [20, 20, 20, 5, 5]


def test_cosine_warms_up_linearly_then_falls_to_its_floor_at_the_last_step():
    schedule = make_schedule("cosine", 1.0, warmup=4, total_steps=14, min_rate=0.1)
    got = rates(schedule, 16)
    assert got[:4] == [0.25, 0.5, 0.75, 1.0]
    assert got[4] == 1.0  # the cosine starts at the rate
    falling = got[4:14]
    assert all(a > b for a, b in itertools.pairwise(falling))
    assert got[13] == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 9 / 10)) / 2)
    assert got[14:] == [0.1, 0.1]  # past the last step (never reached by a run)


def test_a_restored_plateau_continues_exactly():
    losses = [3.0, 2.0, 2.5, 2.5, 1.0, 1.5, 1.5, 1.5, 1.5]
    whole = rates(make_schedule("plateau", 0.1, factor=0.3, patience=1), 9, losses)
    cut = make_schedule("plateau", 0.1, factor=0.3, patience=1)
    head = rates(cut, 4, losses[:4])
    resumed = make_schedule("plateau", 0.1, factor=0.3, patience=1)
    resumed.load_state_dict(cut.state_dict())
    tail = rates(resumed, 9, [math.nan] * 4 + losses[4:], start=4)
    assert head + tail == whole and min(whole) < 0.1


def test_an_unknown_schedule_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed values are constant, step, plateau, cosine"):
        make_schedule("exponential", 0.1)
    assert SCHEDULES == ("constant", "step", "plateau", "cosine")
