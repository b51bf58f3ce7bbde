"""Domain errors, raised anywhere in the service and turned into HTTP answers in one place."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from service.schemas import NO_NUL


class RnnlabError(Exception):
    """Base of every error a client can cause; `status_code` is its HTTP translation."""

    status_code = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class NotFound(RnnlabError):
    status_code = 404


class Conflict(RnnlabError):
    status_code = 409


class InvalidInput(RnnlabError):
    status_code = 422


class PayloadTooLarge(RnnlabError):
    status_code = 413


class QueueFull(RnnlabError):
    status_code = 429


class Unauthorized(RnnlabError):
    status_code = 401


class ModelCorrupted(RnnlabError):
    """Stored weights no longer match their checksum: the model must be retrained."""

    status_code = 409


def job_not_found(job_id: int) -> NotFound:
    return NotFound(f"job {job_id} does not exist: GET /jobs lists the jobs")


def model_not_found(model_id: int) -> NotFound:
    return NotFound(f"model {model_id} does not exist: GET /models lists the trained models")


def corpus_not_found(corpus_id: int) -> NotFound:
    return NotFound(f"corpus {corpus_id} does not exist: GET /corpora lists the corpora")


# A 422 lists at most this many problems and counts the rest: a body with 600,000 unknown names
# once answered 82 MB after 13 s.
MAX_REPORTED_ERRORS = 10
MAX_ECHOED_CHARS = 100
NUL_MESSAGE = "Text must not contain the NUL character (\\u0000)"


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
    if error["type"] == "string_pattern_mismatch" and ctx.get("pattern") == NO_NUL:
        described["msg"] = NUL_MESSAGE
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
