"""Choosing the next word of a generated text from the model's logits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.random import Generator
from numpy.typing import NDArray

from rnnlab.models.layers.losses import softmax


def sample(
    logits: NDArray, temperature: float, top_k: int | None, rng: Generator, banned: Sequence[int]
) -> int:
    """An id drawn from softmax(logits / temperature), among the top_k when given, never a
    banned one; temperature 0 is greedy (argmax)."""
    logits = logits.astype(np.float64)
    if len(banned):
        logits[list(banned)] = -np.inf
    if temperature == 0:
        return int(np.argmax(logits))
    if top_k is not None and top_k < len(logits):
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits[logits < cutoff] = -np.inf
    # Shift before dividing: a tiny temperature then sends the others to -inf (greedy), not
    # every logit to +-inf and the probabilities to NaN.
    with np.errstate(over="ignore"):  # overflowing to -inf is the point
        probs = softmax((logits - logits.max()) / temperature)
    return int(rng.choice(len(probs), p=probs))
