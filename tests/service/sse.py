"""A small Server-Sent Events reader for the tests (the wire format, parsed as a browser does)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    event: str = "message"
    data: str = ""
    id: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.data)


class Parser:
    def __init__(self) -> None:
        self.current = Message()

    def feed(self, line: str) -> Message | None:
        """The message a blank line completes, else None."""
        if line == "":
            message, self.current = self.current, Message()
            return message
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            self.current.comments.append(value)
        elif name == "data":
            self.current.data = f"{self.current.data}\n{value}" if self.current.data else value
        elif name in ("event", "id"):
            setattr(self.current, name, value)
        return None


def messages(lines: Iterable[str]) -> Iterator[Message]:
    parser = Parser()
    for line in lines:
        message = parser.feed(line)
        if message is not None:
            yield message


async def amessages(lines: AsyncIterator[str]) -> AsyncIterator[Message]:
    parser = Parser()
    async for line in lines:
        message = parser.feed(line)
        if message is not None:
            yield message


def cursor(event_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in event_id.split("."))
