"""The frozen serving LSTM against the textbook LSTM it replaces at /predict."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.fast.serving_lstm import FrozenLSTM
from rnnlab.models.layers.lstm import TimeLSTM
from tests.models.gradcheck import randomize


def _reference(peephole, seed=21):
    rng = np.random.default_rng(seed)
    layer = TimeLSTM(5, 6, rng, peephole=peephole)
    randomize(layer, rng)
    return layer


@pytest.mark.parametrize("peephole", [False, True])
def test_rows_of_different_lengths_match_each_row_alone(peephole):
    """With lengths (longest first) each row stops after its own steps: its outputs there are
    the reference's, to float rounding; zeros past its end; and no state is carried."""
    reference = _reference(peephole)
    frozen = FrozenLSTM(reference.params)
    xs = np.random.default_rng(1).standard_normal((4, 7, 5)).astype(np.float32)
    lengths = np.array([7, 5, 5, 1])
    ragged = frozen.forward(xs, lengths)
    for row, length in enumerate(lengths):
        alone = reference.forward(xs[row : row + 1, :length])[0]
        np.testing.assert_allclose(ragged[row, :length], alone, rtol=1e-5, atol=1e-6)
        assert not ragged[row, length:].any()  # zeros past the end, safe for a next layer
    assert frozen.h is None and frozen.c is None
    with pytest.raises(AssertionError, match="longest first"):
        frozen.forward(xs, np.array([1, 7, 5, 5]))


def test_without_lengths_the_state_carries_like_a_stateful_reference():
    reference = _reference(False)
    frozen = FrozenLSTM(reference.params)
    reference.stateful = True
    xs = np.random.default_rng(2).standard_normal((1, 6, 5)).astype(np.float32)
    for t in range(6):  # generation: one word at a time
        np.testing.assert_allclose(
            frozen.forward(xs[:, t : t + 1]),
            reference.forward(xs[:, t : t + 1]),
            rtol=1e-5,
            atol=1e-6,
        )


def test_input_table_is_the_projection_of_the_embedding():
    rng = np.random.default_rng(22)
    vectors = rng.standard_normal((30, 5)).astype(np.float32)
    reference = _reference(False)
    ids = rng.integers(0, 30, (3, 4))
    expected = reference.forward(vectors[ids])
    frozen = FrozenLSTM(reference.params, vectors)
    assert frozen.input_table is not None and frozen.input_table.shape == (30, 24)
    np.testing.assert_allclose(frozen.forward_ids(ids), expected, rtol=1e-5, atol=1e-6)
    frozen.reset_state()
    np.testing.assert_allclose(frozen.forward(vectors[ids]), expected, rtol=1e-5, atol=1e-6)
