"""Server-Sent Events as the bytes a client reads: an event, a batch of events, a comment."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

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
