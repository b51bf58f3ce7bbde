"""Optimisers: each descends a quadratic, state round-trips bit for bit, clipping by global norm."""

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

LEARNING_RATES = {"sgd": 0.1, "momentum": 0.05, "adagrad": 0.5, "rmsprop": 0.05, "adam": 0.1}
CENTRE = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
CURVATURE = np.array([[1.0, 2.0], [0.5, 4.0]], dtype=np.float32)


def quadratic(x):
    """f(x) = 0.5 sum(a (x - c)^2) and its gradient."""
    d = x - CENTRE
    return 0.5 * float(np.sum(CURVATURE * d * d)), CURVATURE * d


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_descends_a_quadratic(name):
    opt = make_optimizer(name, LEARNING_RATES[name])
    x = np.zeros((2, 2), dtype=np.float32)
    b = np.ones(3, dtype=np.float32)  # a second parameter with a zero gradient stays put
    start, _ = quadratic(x)
    for _ in range(300):
        _, g = quadratic(x)
        opt.update([x, b], [g, np.zeros_like(b)])
    end, _ = quadratic(x)
    assert end < 1e-3 * start, f"{name}: {start} -> {end}"
    np.testing.assert_array_equal(b, 1.0)
    assert x.dtype == np.float32


def _run(opt, params, steps, seed):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        opt.update(params, [rng.standard_normal(p.shape).astype(p.dtype) for p in params])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_gives_identical_updates(name):
    params = [np.ones((3, 2), dtype=np.float32), np.zeros(2, dtype=np.float32)]
    a = make_optimizer(name, 0.01)
    _run(a, params, 3, seed=0)
    saved = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in saved.values())
    if name != "sgd":
        assert saved, "a stateful optimizer must save its state"
    if name == "adam":
        assert {"m.0", "m.1", "v.0", "v.1", "t"} <= set(saved) and int(saved["t"]) == 3

    copy = [p.copy() for p in params]
    b = make_optimizer(name, 0.01)
    b.load_state_dict(saved)
    _run(a, params, 2, seed=1)
    _run(b, copy, 2, seed=1)
    for p, q in zip(params, copy, strict=True):
        np.testing.assert_array_equal(p, q)
    # the saved dict is a snapshot, not a view of the live state
    if name != "sgd":
        assert not all(np.array_equal(saved[k], a.state_dict()[k]) for k in saved)


def test_fresh_optimizer_differs_from_restored_one():
    """Without the state the next update is different: the round-trip test above is meaningful."""
    params = [np.ones(4, dtype=np.float32)]
    a = Adam(0.1)
    _run(a, params, 3, seed=0)
    restored, fresh = Adam(0.1), Adam(0.1)
    restored.load_state_dict(a.state_dict())
    p1, p2 = params[0].copy(), params[0].copy()
    g = np.full(4, 0.5, dtype=np.float32)
    restored.update([p1], [g])
    fresh.update([p2], [g])
    assert not np.array_equal(p1, p2)


def test_known_updates():
    g = np.array([2.0])
    p = np.array([1.0])
    SGD(0.1).update([p], [g])
    assert p[0] == pytest.approx(0.8)
    p = np.array([1.0])
    m = Momentum(0.1, momentum=0.9)
    m.update([p], [g])
    m.update([p], [g])  # v = -0.2, then -0.38
    assert p[0] == pytest.approx(1.0 - 0.2 - 0.38)
    p = np.array([1.0])
    AdaGrad(0.1).update([p], [g])
    assert p[0] == pytest.approx(0.9, rel=1e-6)
    p = np.array([1.0])
    RMSprop(0.1, decay=0.99).update([p], [g])  # h = 0.04, step = 0.1 * 2 / 0.2
    assert p[0] == pytest.approx(0.0, abs=1e-5)
    p = np.array([1.0])
    Adam(0.1).update([p], [g])  # the first Adam step is lr * sign(g)
    assert p[0] == pytest.approx(0.9, rel=1e-6)


def test_make_optimizer_rejects_unknown_names():
    with pytest.raises(ValueError, match="sgd, momentum, adagrad, rmsprop, adam"):
        make_optimizer("lbfgs", 0.1)
    assert isinstance(make_optimizer("rmsprop", 0.1), RMSprop)


def test_clip_grads_scales_to_max_norm():
    grads = [np.array([3.0, 0.0], dtype=np.float32), np.array([[4.0]], dtype=np.float32)]
    norm = clip_grads(grads, 1.0)
    assert norm == pytest.approx(5.0)
    total = np.sqrt(sum(float(np.sum(g**2)) for g in grads))
    assert total == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(grads[0], [0.6, 0.0], rtol=1e-5)
    assert grads[0].dtype == np.float32


def test_clip_grads_leaves_small_gradients_alone():
    grads = [np.array([0.3, 0.4])]
    assert clip_grads(grads, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(grads[0], [0.3, 0.4])
