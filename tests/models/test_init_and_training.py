"""Initialisers and what every training loop shares (RNG serialisation, divergence messages)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.init import INITS, init_weight
from rnnlab.models.training import TrainingDiverged, check_finite, rng_from_array, rng_to_array

F64 = np.float64


@pytest.mark.parametrize(
    ("kind", "expected_std"),
    [("normal", 2.0), ("xavier", 1 / np.sqrt(400)), ("he", np.sqrt(2 / 400))],
)
def test_init_weight_scale(kind, expected_std):
    w = init_weight(kind, np.random.default_rng(0), (400, 300), std=2.0)
    assert w.dtype == np.float32 and w.shape == (400, 300)
    assert w.std() == pytest.approx(expected_std, rel=0.02)


def test_init_weight_is_deterministic_and_honours_dtype():
    a = init_weight("xavier", np.random.default_rng(5), (3, 4), dtype=F64)
    b = init_weight("xavier", np.random.default_rng(5), (3, 4), dtype=F64)
    assert a.dtype == F64 and np.array_equal(a, b)
    assert not np.array_equal(a, init_weight("xavier", np.random.default_rng(6), (3, 4), dtype=F64))


def test_init_weight_rejects_unknown_kind():
    with pytest.raises(ValueError, match="normal, xavier, he"):
        init_weight("glorot", np.random.default_rng(0), (2, 2))
    assert INITS == ("normal", "xavier", "he")


def test_rng_round_trip_continues_the_stream():
    rng = np.random.default_rng(42)
    rng.random(7)
    saved = rng_to_array(rng)
    assert saved.dtype == np.uint8 and saved.ndim == 1
    expected = rng.random(5)
    np.testing.assert_array_equal(rng_from_array(saved).random(5), expected)


def test_check_finite_messages():
    check_finite(1.5, 3)
    with pytest.raises(TrainingDiverged, match="loss became NaN at step 812: lower the learning"):
        check_finite(float("nan"), 812)
    with pytest.raises(TrainingDiverged, match="loss became infinite at step 9"):
        check_finite(float("inf"), 9)
