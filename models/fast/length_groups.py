"""Contexts grouped by length for batched serving passes.

A batched pass pads every context to its longest, and a long one must not drag a crowd of short
ones through all its steps. The reference is one pass per context; grouping changes the speed,
never an answer beyond float rounding (tests/models/tasks/next_word compare them).
"""

from __future__ import annotations

from collections.abc import Sequence

# Contexts up to this many words share one batched pass (padding a 1-word context to 16 steps
# costs less than a second pass); longer ones pass with others of the same power of two.
SHORT_CONTEXT_WORDS = 16


def length_groups(lengths: Sequence[int]) -> list[list[int]]:
    """Indices of `lengths` grouped for batched passes, in order: one group of the short
    contexts (<= SHORT_CONTEXT_WORDS), then one per power of two (17-32, 33-64, ...)."""
    groups: dict[int, list[int]] = {}
    for index, length in enumerate(lengths):
        group = 0 if length <= SHORT_CONTEXT_WORDS else (int(length) - 1).bit_length()
        groups.setdefault(group, []).append(index)
    return list(groups.values())
