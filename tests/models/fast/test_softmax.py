"""The sharded, blocked softmax output against the textbook AffineSoftmax it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models import parallel
from rnnlab.models.fast.softmax import EXP_SAFE, SoftmaxOutput
from rnnlab.models.layers.output import AffineSoftmax
from tests.models.gradcheck import assert_gradient_close, numerical_gradient, randomize


def _pair(H, V, seed, scale=0.5, **options):
    reference = AffineSoftmax(H, V, np.random.default_rng(seed), dtype=np.float64)
    fast = SoftmaxOutput(H, V, np.random.default_rng(seed), dtype=np.float64, **options)
    for p, q in zip(reference.params, fast.params, strict=True):
        np.testing.assert_array_equal(p, q)  # the same draw from the same seed
    randomize(reference, np.random.default_rng(seed + 1), scale=scale)
    for p, q in zip(reference.params, fast.params, strict=True):
        q[...] = p
    return reference, fast


@pytest.mark.parametrize("block_rows", [1, 4, 256])
def test_gradients_in_blocks(block_rows):
    _, layer = _pair(4, 7, 11, block_rows=block_rows)
    rng = np.random.default_rng(12)
    hs = rng.standard_normal((2, 3, 4))
    targets = rng.integers(0, 7, (2, 3))

    def f():
        return layer.forward(hs, targets, need_grad=False)

    layer.forward(hs, targets)
    dhs = layer.backward().copy()
    analytic = [g.copy() for g in layer.grads]
    for name, p, g in zip(layer.param_names, layer.params, analytic, strict=True):
        assert_gradient_close(g, numerical_gradient(f, p), f"d{name}")
    assert_gradient_close(dhs, numerical_gradient(f, hs), "dhs")


@pytest.mark.parametrize("scale", [1.0, 40.0])  # 40: logits beyond EXP_SAFE take the shifted path
def test_equals_the_reference_with_small_and_huge_logits(scale):
    reference, fast = _pair(4, 9, 12, scale=scale, block_rows=2)
    rng = np.random.default_rng(13)
    hs = rng.standard_normal((3, 5, 4))
    targets = rng.integers(0, 9, (3, 5))
    logits = hs @ fast.params[0] + fast.params[1]
    assert (np.abs(logits).max() > EXP_SAFE) == (scale > 1)
    loss = reference.forward(hs, targets)
    assert np.isfinite(loss)
    assert fast.forward(hs, targets) == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(fast.backward(), reference.backward(), rtol=1e-10, atol=1e-12)
    for g, h in zip(fast.grads, reference.grads, strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12)
    loss_sum, hits = fast.evaluate(hs, targets)
    expected_sum, expected_hits = reference.evaluate(hs, targets)
    assert loss_sum == pytest.approx(expected_sum, rel=1e-12) and hits == expected_hits
    np.testing.assert_allclose(
        fast.last_step_logits(hs[:, -1]), reference.last_step_logits(hs[:, -1]), rtol=1e-12
    )


def test_identical_results_on_one_or_two_threads():
    """Threads only change who computes a shard: every sum runs in the same order."""
    results = []
    old = parallel.TRAIN_THREADS
    try:
        for threads in (1, 2):
            parallel.set_train_threads(threads)
            rng = np.random.default_rng(13)
            layer = SoftmaxOutput(6, 40, rng)
            hs = rng.standard_normal((8, 5, 6)).astype(np.float32)
            loss = layer.forward(hs, rng.integers(0, 40, (8, 5)))
            results.append(
                [np.array(loss), layer.backward().copy(), *(g.copy() for g in layer.grads)]
            )
    finally:
        parallel.set_train_threads(old)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
