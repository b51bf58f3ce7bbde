"""Domain errors to HTTP, in one place: each kind of service/errors.py gets its status code here,
and the few that need one their headers (Retry-After, WWW-Authenticate). Nothing else in the
service names a status code for an error it raises.

A database error that reaches a route unconverted (a query outside Database.read and write)
is still a storage fault when it is one: a 503 with Retry-After, never a 500."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from rnnlab.service.api.validation import validation_error_body
from rnnlab.service.errors import (
    Busy,
    InvalidInput,
    InvalidState,
    Missing,
    NotAuthenticated,
    RnnlabError,
    StorageUnavailable,
    TooLarge,
    TooManyStreams,
    Unavailable,
)
from rnnlab.service.store.faults import STATUS, as_storage_fault


class ErrorResponse(JSONResponse):
    """JSON whose every string can be written: an error may echo what a client sent, and JSON
    can carry a lone surrogate (`"\\ud800"`) that UTF-8 cannot encode. Such a character is
    written as its escape, as text (`\\ud800`), so the answer is the 4xx it means to be."""

    def render(self, content: Any) -> bytes:
        return super().render(encodable(content))


def encodable(value: Any) -> Any:
    """`value` with each character UTF-8 cannot encode replaced by its escape, in every string
    and key."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {encodable(key): encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encodable(item) for item in value]
    return value


# Looked up along the error's class hierarchy: the most specific kind listed wins.
STATUS_CODES: dict[type[RnnlabError], int] = {
    Missing: 404,
    InvalidInput: 422,
    InvalidState: 409,
    Busy: 429,
    NotAuthenticated: 401,
    TooLarge: 413,
    Unavailable: 501,
    StorageUnavailable: 503,
    TooManyStreams: 503,
    RnnlabError: 400,
}


def status_code(error: RnnlabError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_CODES:
            return STATUS_CODES[kind]  # type: ignore[index]
    return 400


def headers(error: RnnlabError) -> dict[str, str] | None:
    if isinstance(error, (Busy, StorageUnavailable, TooManyStreams)):
        return {"Retry-After": str(error.retry_after_seconds)}
    if isinstance(error, NotAuthenticated):
        return {"WWW-Authenticate": "Bearer"}
    return None


async def handle_domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RnnlabError)
    return ErrorResponse(
        {"detail": error.detail}, status_code=status_code(error), headers=headers(error)
    )


async def handle_database_error(request: Request, error: Exception) -> JSONResponse:
    """A storage fault as its domain error; any other database error stays a bug (a 500)."""
    assert isinstance(error, DBAPIError)
    fault = as_storage_fault(error)
    if fault is None:
        raise error
    STATUS.failed(fault)
    return await handle_domain_error(request, fault)


async def handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422, capped to the first problems and without echoing large or non-finite
    input (`inf` cannot even be written as JSON)."""
    assert isinstance(error, RequestValidationError)
    return ErrorResponse(validation_error_body(error.errors()), status_code=422)


# Answered without the database: everything else can meet a storage fault.
WITHOUT_DATABASE = {"/healthz"}
STORAGE_FAULT_RESPONSE = {
    "description": "Storage does not answer (the database restarting or refusing connections: "
    "seconds), or is full or read-only (until an operator frees space or makes it writable: "
    "reads still work then). Nothing was changed; retry after `Retry-After` seconds",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying",
            "schema": {"type": "integer"},
        }
    },
}


def document_storage_faults(schema: dict[str, Any]) -> dict[str, Any]:
    """Every operation that needs the database can meet an outage, and every one that writes a
    full or read-only database: the OpenAPI schema states its 503 (whose body
    rnnlab.service.api.docs describes, as for the other errors)."""
    for path, item in schema.get("paths", {}).items():
        if path in WITHOUT_DATABASE:
            continue
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            own = responses.get("503")
            if own is None:
                responses["503"] = copy.deepcopy(STORAGE_FAULT_RESPONSE)
            else:  # its own 503 (every event stream open): an outage answers 503 there too
                description = STORAGE_FAULT_RESPONSE["description"]
                own["description"] = f"{own['description']}. Or: {description}"
    return schema


def install(app: FastAPI) -> None:
    app.add_exception_handler(RnnlabError, handle_domain_error)
    app.add_exception_handler(DBAPIError, handle_database_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
