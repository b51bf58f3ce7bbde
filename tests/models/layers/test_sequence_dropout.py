"""Keras's dropout in the textbook cells: one mask per sequence on the inputs (dropout) and on
the recurrent state (recurrent_dropout), the same at every time step, off without masks.

What shows "the same at every step": a layer run with masks m_x, m_z on one sequence is the
layer whose weight rows are thinned by them, Wx -> diag(m_x) Wx and Wh -> diag(m_z) Wh (the
notes' W_in, W lose columns), at every step; a per-step mask would match no fixed weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.layers.dropout import NO_DROPOUT, SequenceMasks, sequence_masks
from rnnlab.models.layers.gru import TimeGRU
from rnnlab.models.layers.lstm import TimeLSTM
from rnnlab.models.layers.rnn import TimeRNN
from tests.models.gradcheck import check_layer_gradients, randomize

F64 = np.float64
N, T, D, H = 3, 5, 3, 4
LAYERS = [
    (TimeRNN, {"activation": "tanh"}),
    (TimeRNN, {"activation": "sigmoid", "bias": False}),
    (TimeLSTM, {}),
    (TimeLSTM, {"peephole": True}),
    (TimeGRU, {}),
]
IDS = ["rnn-tanh", "rnn-sigmoid-nobias", "lstm", "lstm-peephole", "gru"]


def _layer(cls, options, seed=0):
    rng = np.random.default_rng(seed)
    layer = cls(D, H, rng, dtype=F64, **options)
    randomize(layer, rng)
    return layer


def _masks(seed=1, dropout=0.5, recurrent_dropout=0.3):
    return sequence_masks(np.random.default_rng(seed), N, D, H, dropout, recurrent_dropout, F64)


@pytest.mark.parametrize(("cls", "options"), LAYERS, ids=IDS)
@pytest.mark.parametrize("which", ["both", "inputs", "recurrent"])
def test_gradients_with_fixed_masks(cls, options, which):
    masks = _masks()
    if which != "both":
        masks = SequenceMasks(**{which: getattr(masks, which)})
    assert all(m is None or (m == 0).any() for m in masks), "some units must really be dropped"
    layer = _layer(cls, options)
    xs = np.random.default_rng(2).standard_normal((N, T, D))
    check_layer_gradients(layer, xs, dhs_seed=3, masks=masks)
    layer.stateful = True  # a window that starts from a carried state
    layer.forward(np.random.default_rng(4).standard_normal((N, 2, D)), masks)
    check_layer_gradients(layer, xs, dhs_seed=5, masks=masks)


@pytest.mark.parametrize(("cls", "options"), LAYERS, ids=IDS)
def test_masks_of_ones_are_no_dropout(cls, options):
    layer = _layer(cls, options)
    xs = np.random.default_rng(2).standard_normal((N, T, D))
    R = np.random.default_rng(3).standard_normal((N, T, H))
    plain = layer.forward(xs), layer.backward(R), [g.copy() for g in layer.grads]
    ones = SequenceMasks(np.ones((N, D)), np.ones((N, H)))
    masked = layer.forward(xs, ones), layer.backward(R), [g.copy() for g in layer.grads]
    np.testing.assert_array_equal(masked[0], plain[0])
    np.testing.assert_array_equal(masked[1], plain[1])
    for g, h in zip(masked[2], plain[2], strict=True):
        np.testing.assert_array_equal(g, h)


@pytest.mark.parametrize(("cls", "options"), LAYERS, ids=IDS)
def test_the_same_mask_at_every_step(cls, options):
    layer = _layer(cls, options)
    masks = _masks()
    xs = np.random.default_rng(2).standard_normal((N, T, D))
    hs = layer.forward(xs, masks)
    for n in range(N):
        thinned = _layer(cls, options)
        thinned.params[0][...] *= masks.inputs[n][:, None]  # Wx rows of the dropped inputs
        thinned.params[1][...] *= masks.recurrent[n][:, None]  # Wh rows of the dropped state
        np.testing.assert_allclose(hs[n], thinned.forward(xs[n : n + 1])[0], rtol=1e-12)


@pytest.mark.parametrize(("cls", "options"), LAYERS, ids=IDS)
def test_a_dropped_input_unit_gets_no_gradient_at_any_step(cls, options):
    layer = _layer(cls, options)
    masks = _masks()
    xs = np.random.default_rng(2).standard_normal((N, T, D))
    dxs = layer.backward(np.ones_like(layer.forward(xs, masks)))
    dropped = masks.inputs == 0  # (N, D)
    assert dropped.any() and (~dropped).any()
    assert (dxs.transpose(1, 0, 2)[:, dropped] == 0).all()
    assert (dxs.transpose(1, 0, 2)[:, ~dropped] != 0).all()


def test_masks_are_drawn_per_sample_scaled_and_only_when_asked():
    rng = np.random.default_rng(0)
    masks = sequence_masks(rng, 2000, 6, 8, 0.5, 0.25, np.float32)
    assert masks.inputs.shape == (2000, 6) and masks.recurrent.shape == (2000, 8)
    assert set(np.unique(masks.inputs)) == {0.0, np.float32(2.0)}
    assert set(np.unique(masks.recurrent)) == {0.0, np.float32(1 / 0.75)}
    assert masks.inputs.dtype == masks.recurrent.dtype == np.float32
    assert masks.inputs.mean() == pytest.approx(1.0, abs=0.03)  # inverted: the expectation kept
    assert masks.recurrent.mean() == pytest.approx(1.0, abs=0.03)
    assert len({row.tobytes() for row in masks.inputs}) > 50  # each sample its own mask
    # rates of 0 draw nothing, so a run without dropout keeps its generator's stream
    before = rng.bit_generator.state
    assert sequence_masks(rng, 4, 6, 8, 0.0, 0.0) == NO_DROPOUT
    assert rng.bit_generator.state == before
    assert sequence_masks(None, 4, 6, 8, 0.5, 0.5) == NO_DROPOUT  # inference
    only_recurrent = sequence_masks(rng, 4, 6, 8, 0.0, 0.5)
    assert only_recurrent.inputs is None and only_recurrent.recurrent is not None
