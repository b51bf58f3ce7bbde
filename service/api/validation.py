"""The body of a 422 from request validation: pydantic's problems as FastAPI reports them,
bounded in count and in what they echo of the request."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rnnlab.service.schemas.text import NOT_UNICODE, NOT_UNICODE_MESSAGE, PATTERN_MESSAGES

# A 422 lists at most this many problems and counts the rest: a body of many unknown names
# would otherwise be answered with a 422 larger than itself, built on the event loop.
MAX_REPORTED_ERRORS = 10
MAX_ECHOED_CHARS = 100


def validation_error_body(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON of a 422 from request validation (pydantic's errors, as FastAPI reports them),
    with the first problems only, and none of what a client sent unless it is short and finite.
    """
    reported = errors[:MAX_REPORTED_ERRORS]
    body: dict[str, Any] = {"detail": [_describe(error) for error in reported]}
    if len(errors) > MAX_REPORTED_ERRORS:
        body["more_errors"] = len(errors) - MAX_REPORTED_ERRORS
    return body


def _describe(error: Mapping[str, Any]) -> dict[str, Any]:
    ctx = error.get("ctx") or {}
    described: dict[str, Any] = {
        "type": error["type"],
        "loc": [_short(part) for part in error["loc"]],
        "msg": _short(error["msg"], limit=500),
    }
    if error["type"] == NOT_UNICODE:  # pydantic's own message does not say what is wrong
        described["msg"] = NOT_UNICODE_MESSAGE
    if error["type"] == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_MESSAGES:
        described["msg"] = PATTERN_MESSAGES[ctx["pattern"]]
    elif "input" in error and _echoable(error["input"]):
        described["input"] = error["input"]
    if ctx:
        described["ctx"] = {
            key: value if _echoable(value) else _short(str(value)) for key, value in ctx.items()
        }
    return described


def _echoable(value: object) -> bool:
    """Small JSON scalars only: never a long text, a huge integer, NaN or infinity."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) < 10**20
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= MAX_ECHOED_CHARS


def _short(value: Any, limit: int = MAX_ECHOED_CHARS) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}... ({len(value)} characters)"
    return value
