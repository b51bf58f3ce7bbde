"""The k largest values of a distribution, largest first: what np.argsort(-values, kind="stable")
[:k] gives (the reference, in tests), without sorting all V values."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# Up to this k, k rounds of argmax beat np.argpartition, whose cost does not shrink with k.
ARGMAX_ROUNDS_MAX_K = 16


def top_k_indices(values: NDArray, k: int) -> NDArray:
    """Indices of the k largest values, largest first (ties: the lower index first)."""
    if k <= ARGMAX_ROUNDS_MAX_K:
        remaining = values.astype(np.float64)  # a copy, and -inf below every finite value
        top = np.empty(k, np.intp)
        for rank in range(k):
            top[rank] = best = remaining.argmax()
            remaining[best] = -np.inf
        return top
    top = np.argpartition(-values, k - 1)[:k]
    return top[np.lexsort((top, -values[top]))]
