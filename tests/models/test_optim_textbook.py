"""Each optimiser against a plain textbook version, for several steps: one step hides most slips.

The references are written from the formulas, in float64, one array at a time, with no in-place
tricks. Adam's first step is lr * sign(g) whether or not its bias correction is right; the steps
after it, with gradients that change, are where a wrong correction shows.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.optim import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    RMSprop,
    clip_grads,
    make_optimizer,
)

STEPS = 8
SHAPES = [(3, 4), (5,)]


def sgd(lr):
    def step(p, g, state, t):
        return p - lr * g

    return step


def momentum(lr, mu=0.9):
    def step(p, g, state, t):
        state["v"] = mu * state.get("v", 0.0) - lr * g
        return p + state["v"]

    return step


def adagrad(lr, eps=1e-7):
    def step(p, g, state, t):
        state["h"] = state.get("h", 0.0) + g * g
        return p - lr * g / (np.sqrt(state["h"]) + eps)

    return step


def rmsprop(lr, decay=0.99, eps=1e-7):
    def step(p, g, state, t):
        state["h"] = decay * state.get("h", 0.0) + (1 - decay) * g * g
        return p - lr * g / (np.sqrt(state["h"]) + eps)

    return step


def adam_algorithm_1(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba, Algorithm 1: bias-corrected moments m_hat and v_hat."""

    def step(p, g, state, t):
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m_hat = state["m"] / (1 - b1**t)
        v_hat = state["v"] / (1 - b2**t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


def adam_section_2(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba, end of section 2: the correction folded into the step size, eps unscaled."""

    def step(p, g, state, t):
        state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        return p - lr_t * state["m"] / (np.sqrt(state["v"]) + eps)

    return step


REFERENCES = {
    "sgd": sgd,
    "momentum": momentum,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam_section_2,
}


def gradients(seed: int, scale: float) -> list[list[np.ndarray]]:
    """STEPS rounds of gradients for SHAPES whose sizes and signs change from step to step."""
    rng = np.random.default_rng(seed)
    return [
        [
            (scale * rng.standard_normal(s) * rng.uniform(0.2, 3.0)).astype(np.float32)
            for s in SHAPES
        ]
        for _ in range(STEPS)
    ]


def follow(optimizer, reference, rounds, rtol):
    """Run both side by side from the same start; compare every parameter after every step."""
    rng = np.random.default_rng(99)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    expected = [p.astype(np.float64) for p in params]
    states: list[dict] = [{} for _ in SHAPES]
    for t, grads in enumerate(rounds, start=1):
        optimizer.update(params, grads)
        expected = [
            reference(e, g.astype(np.float64), state, t)
            for e, g, state in zip(expected, grads, states, strict=True)
        ]
        for p, e in zip(params, expected, strict=True):
            assert p.dtype == np.float32
            np.testing.assert_allclose(
                p, e, rtol=rtol, atol=1e-6 * np.abs(e).max(), err_msg=f"step {t}"
            )


# Scale 1e-6 puts the gradients near the epsilons: a changed epsilon shows there and only there.
@pytest.mark.parametrize("scale", [1.0, 1e-6])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_matches_its_textbook_formula_for_several_steps(name, scale) -> None:
    lr = 0.01
    follow(make_optimizer(name, lr), REFERENCES[name](lr), gradients(7, scale), rtol=2e-5)


@pytest.mark.parametrize(
    ("make", "reference"),
    [
        (lambda: Momentum(0.03, momentum=0.5), momentum(0.03, mu=0.5)),
        (lambda: RMSprop(0.02, decay=0.9), rmsprop(0.02, decay=0.9)),
        (lambda: Adam(0.02, beta1=0.5, beta2=0.9, eps=1e-6), adam_section_2(0.02, 0.5, 0.9, 1e-6)),
    ],
    ids=["momentum", "rmsprop", "adam"],
)
def test_settings_other_than_the_defaults_are_the_ones_used(make, reference) -> None:
    follow(make(), reference, gradients(3, 1.0), rtol=2e-5)


def test_adam_with_gradients_well_above_eps_is_algorithm_1_with_its_bias_correction() -> None:
    """Away from eps, folding the correction into the step is Algorithm 1 exactly."""
    follow(Adam(0.01), adam_algorithm_1(0.01), gradients(11, 1.0), rtol=2e-5)


def test_adam_bias_correction_is_visible_after_the_first_step() -> None:
    """The guard that the tests above can fail: without the correction (or with it off by one
    step) the second and later steps are far from the reference."""

    def uncorrected(lr, b1=0.9, b2=0.999, eps=1e-8):
        def step(p, g, state, t):
            state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
            state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
            return p - lr * state["m"] / (np.sqrt(state["v"]) + eps)

        return step

    with pytest.raises(AssertionError):
        follow(Adam(0.01), uncorrected(0.01), gradients(11, 1.0), rtol=1e-3)


def test_adam_counts_its_steps_in_its_state() -> None:
    adam, params = Adam(0.01), [np.zeros(3, np.float32)]
    for t in range(1, 4):
        adam.update(params, [np.ones(3, np.float32)])
        assert int(adam.state_dict()["t"]) == t


def test_sgd_keeps_no_state_and_the_others_one_slot_per_parameter() -> None:
    params = [np.zeros(s, np.float32) for s in SHAPES]
    expected = {SGD: set(), Momentum: {"v"}, AdaGrad: {"h"}, RMSprop: {"h"}, Adam: {"m", "v"}}
    for cls, slots in expected.items():
        optimizer = cls(0.1)
        optimizer.update(params, [np.ones(s, np.float32) for s in SHAPES])
        keys = {k for k in optimizer.state_dict() if k != "t"}
        assert keys == {f"{slot}.{i}" for slot in slots for i in range(len(SHAPES))}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_gradient_list_that_does_not_pair_with_the_parameters_is_refused(name) -> None:
    """One gradient short (or one too many) must not quietly leave a parameter untrained."""
    params = [np.zeros(s, np.float32) for s in SHAPES]
    grads = [np.ones(s, np.float32) for s in SHAPES]
    optimizer = make_optimizer(name, 0.1)
    optimizer.update(params, grads)  # state made for both parameters
    for wrong in (grads[:1], [*grads, grads[0]]):
        with pytest.raises(ValueError):
            optimizer.update(params, wrong)


def test_gradients_exactly_at_the_clip_norm_are_left_bit_for_bit() -> None:
    grads = [np.array([3.0, 0.0], np.float32), np.array([[4.0]], np.float32)]  # norm exactly 5
    assert clip_grads(grads, 5.0) == 5.0
    np.testing.assert_array_equal(grads[0], [3.0, 0.0])
    np.testing.assert_array_equal(grads[1], [[4.0]])


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_clipped_gradients_never_exceed_the_clip_norm(scale) -> None:
    rng = np.random.default_rng(5)
    for max_norm in (0.01, 0.5, 1.0, 7.0):
        grads = [scale * rng.standard_normal(s) for s in SHAPES]  # float64: no rounding slack
        before = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
        if before <= max_norm:
            continue
        direction = [g / before for g in grads]
        assert clip_grads(grads, max_norm) == pytest.approx(before)
        after = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads)))
        assert after <= max_norm and after == pytest.approx(max_norm, rel=1e-5)
        for g, d in zip(grads, direction, strict=True):  # the direction is kept
            np.testing.assert_allclose(g / after, d, rtol=1e-9)
