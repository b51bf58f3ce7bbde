"""The learning-rate schedules against torch.optim.lr_scheduler, step by step. Skipped with the
reason shown when torch is not installed (CI installs it)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip(
    "torch", reason="torch is the optional reference: pip install torch==2.13.0 (CPU) to run these"
)

from rnnlab.models.schedules import make_schedule  # noqa: E402

pytestmark = pytest.mark.torch

RATE = 0.01


def torch_optimizer(rate: float = RATE):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=rate)


def torch_rates(scheduler_of, steps: int, losses=None) -> list[float]:
    """The rate torch's optimizer holds at each of `steps` updates (plateau: told losses[k]
    after update k, as an epoch-end evaluation)."""
    optimizer = torch_optimizer()
    scheduler = scheduler_of(optimizer)
    rates = []
    for k in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(losses[k]) if losses is not None else scheduler.step()
    return rates


def our_rates(schedule, steps: int, losses=None) -> list[float]:
    rates = []
    for k in range(steps):
        rates.append(schedule.rate(k))
        if losses is not None:
            schedule.observe(losses[k])
    return rates


@pytest.mark.parametrize(("every", "factor"), [(1, 0.5), (3, 0.1), (7, 0.25)])
def test_step_matches_step_lr(every, factor):
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=every, gamma=factor), 40
    )
    ours = our_rates(make_schedule("step", RATE, factor=factor, every=every), 40)
    assert ours == pytest.approx(expected, rel=1e-12)


LOSSES = [5.0, 4.0, 4.0, 4.5, 3.9, 3.9, 3.9, 3.9, 3.0, 3.5, 3.5, 3.5, 3.5, 3.5, 3.5] * 3


@pytest.mark.parametrize(
    ("patience", "factor", "min_rate"), [(0, 0.25, 0.0), (1, 0.5, 0.0), (2, 0.1, 1e-5)]
)
def test_plateau_matches_reduce_lr_on_plateau(patience, factor, min_rate):
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, factor=factor, patience=patience, threshold=0.0, min_lr=min_rate
        ),
        len(LOSSES),
        LOSSES,
    )
    schedule = make_schedule("plateau", RATE, factor=factor, patience=patience, min_rate=min_rate)
    ours = our_rates(schedule, len(LOSSES), LOSSES)
    assert ours == pytest.approx(expected, rel=1e-12)
    assert min(ours) < RATE  # the losses do plateau: the comparison saw reductions


@pytest.mark.parametrize(("total", "min_rate"), [(30, 0.0), (17, 1e-4)])
def test_cosine_without_warmup_matches_cosine_annealing(total, min_rate):
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=min_rate),
        total,
    )
    ours = our_rates(make_schedule("cosine", RATE, total_steps=total, min_rate=min_rate), total)
    assert ours == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("warmup", [2, 5])
def test_cosine_warmup_matches_linear_lr_then_cosine_annealing(warmup):
    total, min_rate = 25, 1e-4
    warming = torch_rates(
        lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1
        ),
        warmup,
    )
    annealing = torch_rates(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=total - warmup, eta_min=min_rate
        ),
        total - warmup,
    )
    schedule = make_schedule("cosine", RATE, warmup=warmup, total_steps=total, min_rate=min_rate)
    assert our_rates(schedule, total) == pytest.approx(warming + annealing, rel=1e-9)
