"""Length groups for batched serving passes, and the top k of a distribution against a stable
sort (the reference)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.models.fast.length_groups import SHORT_CONTEXT_WORDS, length_groups
from rnnlab.models.fast.ranking import ARGMAX_ROUNDS_MAX_K, top_k_indices


def test_contexts_are_batched_with_others_of_similar_length():
    short = SHORT_CONTEXT_WORDS
    lengths = [1, 200, short, short + 1, 2 * short, 2 * short + 1, 3, 130]
    assert length_groups(lengths) == [[0, 2, 6], [1, 7], [3, 4], [5]]
    assert length_groups([]) == []


@pytest.mark.parametrize("k", [1, 3, ARGMAX_ROUNDS_MAX_K, ARGMAX_ROUNDS_MAX_K + 1, 40])
def test_top_k_indices_rank_like_a_stable_sort(k):
    rng = np.random.default_rng(k)
    values = rng.integers(0, 12, 40).astype(np.float32)  # many ties
    values[7] = np.float32(3e38)  # near float32's max: still above the -inf of the taken ones
    expected = np.argsort(-values, kind="stable")[:k]
    np.testing.assert_array_equal(top_k_indices(values, k), expected)
