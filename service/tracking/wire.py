"""Server-Sent Events as the bytes a client reads: an event, a batch of events, a comment.

A feed's read reaches every client that follows it, and most of them are at the same place in the
stream, so they are sent the same bytes: `Shared` keeps those bytes with the read, made by the
first client at a given place and reused by every other one there, so that hundreds of
watchers cost one encoding of each event, not hundreds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

KEEPALIVE = b": keep-alive\n\n"  # a comment: proxies keep an idle stream open


@dataclass(frozen=True)
class Event:
    """One server-sent event: `name` is its SSE `event:` field, `id` its resume point."""

    name: str
    data: dict[str, Any]
    id: str | None = None


def encode(event: Event) -> bytes:
    """`event:`, `data:` (one line of JSON: JSON never holds a raw line break) and `id:`."""
    lines = [f"event: {event.name}", f"data: {_json(event.data)}"]
    if event.id is not None:
        lines.append(f"id: {event.id}")
    return ("\n".join(lines) + "\n\n").encode()


def encode_all(events: Iterable[Event]) -> bytes:
    return b"".join(encode(event) for event in events)


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


def _json(data: Any) -> str:
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:  # NaN or infinity (a diverging loss): JSON has no such number
        return json.dumps(_finite(data))


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


class Shared:
    """One read of a feed, handed to all its followers, with the bytes each place in the
    stream makes of it: `frame` gives a follower the bytes made for its place, encoding
    them only the first time a follower is there."""

    __slots__ = ("_frames", "item")

    def __init__(self, item: Any) -> None:
        self.item = item
        self._frames: dict[Hashable, tuple[bytes, Any]] = {}

    def frame(self, view: View) -> bytes:
        place = view.place(self.item)
        known = self._frames.get(place)
        if known is not None:
            data, after = known
            view.move(self.item, after)
            return data
        data = encode_all(view.events(self.item))
        self._frames[place] = (data, view.place(self.item))
        return data


class View(Protocol):
    """What one client has been sent."""

    def place(self, item: Any) -> Hashable:
        """Everything about this client that the events it gets of `item` depend on: equal
        places, equal events."""
        ...

    def events(self, item: Any) -> list[Event]:
        """The events `item` brings this client, which then counts them sent."""
        ...

    def move(self, item: Any, place: Any) -> None:
        """Count sent what `events(item)` would have made, `place` being where it leads."""
        ...
