"""The training thread pool: fixed shards of work, run on ``set_train_threads(n)`` threads.

numpy releases the GIL inside matmul and ufuncs, so threads use several cores on large arrays.
Work is always cut into the same shards whatever the thread count, and shard results are
combined in shard order: the thread count changes the speed, never the numbers.

The count is an argument (a worker passes its setting), never read from the environment;
default 1. With more than one, run BLAS single-threaded (``OPENBLAS_NUM_THREADS=1``): two pools
on the same cores oversubscribe them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

R = TypeVar("R")
Item = TypeVar("Item")

# Shards of the work that is split (output-layer rows, LSTM gate columns). Fixed, not the
# thread count, so that the trained weights do not depend on the thread count.
SHARDS = 2

TRAIN_THREADS = 1
_pool: ThreadPoolExecutor | None = None


def set_train_threads(threads: int) -> None:
    """Train on `threads` threads from now on (a worker's setting); results do not depend on it."""
    global TRAIN_THREADS, _pool
    if _pool is not None:
        _pool.shutdown()
        _pool = None
    TRAIN_THREADS = max(1, int(threads))


def parallel_map(fn: Callable[[Item], R], items: Iterable[Item]) -> list[R]:
    """[fn(i) for i in items], on TRAIN_THREADS threads when more than one; results in order."""
    global _pool
    items = list(items)
    if TRAIN_THREADS <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    if _pool is None:
        _pool = ThreadPoolExecutor(TRAIN_THREADS, thread_name_prefix="rnnlab-train")
    return list(_pool.map(fn, items))


def shard_slices(rows: int, shards: int = SHARDS) -> list[slice]:
    """Split range(rows) into at most `shards` contiguous, non-empty, near-equal slices."""
    bounds = [rows * k // shards for k in range(shards + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]
