"""Query strings that are checked whole: an unknown parameter is a 422, never silently ignored
(a typo such as `?stauts=failed` would otherwise list every job)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from rnnlab.service.errors import InvalidInput


def only_query_params(*allowed: str) -> Any:
    """A route dependency refusing any query parameter outside `allowed`."""
    known = frozenset(allowed)

    async def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise InvalidInput(
                f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}: allowed are {', '.join(sorted(known))}"
            )

    return Depends(check)
