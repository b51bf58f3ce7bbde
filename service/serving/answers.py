"""The answer cache: a model's encoded /predict bodies of its most recent queries."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass
class CacheStats:
    """Lookups of a cache, for /metrics."""

    hits: int = 0
    misses: int = 0


class AnswerCache:
    """The encoded /predict bodies of a model's most recent queries, by what its task's
    answerer says identifies a query (`Answerer.key`).

    A model's answers never change (its weights are fixed), so a repeated query can skip the
    pre-processing, the model and the JSON. It also keeps a repeated query's answer identical to
    the bit while it stays here (a batched pass may differ from a lone one in the last bits).
    Used on the event loop only, hence no lock. At most `capacity` entries. An OrderedDict
    rather than cachetools.LRUCache: measured paired in process, its hit and its insert with
    eviction were the cheaper.
    """

    def __init__(self, capacity: int, stats: CacheStats | None = None) -> None:
        self.capacity = capacity
        self.stats = stats or CacheStats()  # shared by every model's cache
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        body = self._bodies.get(key)
        if body is not None:
            self._bodies.move_to_end(key)
            self.stats.hits += 1
        else:
            self.stats.misses += 1
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        if self.capacity == 0:
            return
        self._bodies[key] = body
        if len(self._bodies) > self.capacity:
            self._bodies.popitem(last=False)

    def __len__(self) -> int:
        return len(self._bodies)
