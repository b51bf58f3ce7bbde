"""Domain errors to HTTP, in one place: each kind of service/errors.py gets its status code here,
and the few that need one their headers (Retry-After, WWW-Authenticate). Nothing else in the
service names a status code for an error it raises."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from rnnlab.service.api.validation import validation_error_body
from rnnlab.service.errors import (
    InvalidInput,
    InvalidState,
    Missing,
    NotAuthenticated,
    QueueFull,
    RnnlabError,
    StorageUnavailable,
    TooLarge,
    TooManyStreams,
    Unavailable,
)

# Looked up along the error's class hierarchy: the most specific kind listed wins.
STATUS_CODES: dict[type[RnnlabError], int] = {
    Missing: 404,
    InvalidInput: 422,
    InvalidState: 409,
    QueueFull: 429,
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
    if isinstance(error, (QueueFull, StorageUnavailable, TooManyStreams)):
        return {"Retry-After": str(error.retry_after_seconds)}
    if isinstance(error, NotAuthenticated):
        return {"WWW-Authenticate": "Bearer"}
    return None


async def handle_domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RnnlabError)
    return JSONResponse(
        {"detail": error.detail}, status_code=status_code(error), headers=headers(error)
    )


async def handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422, capped to the first problems and without echoing large or non-finite
    input (`inf` cannot even be written as JSON)."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse(validation_error_body(error.errors()), status_code=422)


MUTATING_METHODS = {"post", "put", "patch", "delete"}
STORAGE_FAULT_RESPONSE = {
    "description": "Storage is full or read-only: nothing can be saved until an operator frees "
    "space or makes the database writable; reads still work. Retry after `Retry-After` seconds",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying",
            "schema": {"type": "integer"},
        }
    },
}


def document_storage_faults(schema: dict[str, Any]) -> dict[str, Any]:
    """Every operation that writes can meet a full or read-only database: the OpenAPI schema
    states its 503 (whose body rnnlab.service.api.docs describes, as for the other errors)."""
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method in MUTATING_METHODS:
                operation.setdefault("responses", {}).setdefault(
                    "503", copy.deepcopy(STORAGE_FAULT_RESPONSE)
                )
    return schema


def install(app: FastAPI) -> None:
    app.add_exception_handler(RnnlabError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
