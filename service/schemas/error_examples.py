"""The error answers /docs and /redoc show: the service's own messages, built by the code that
sends them, by status and by the resource a path names."""

from __future__ import annotations

from typing import Any

from pydantic.config import JsonDict

from rnnlab.service.errors import (
    corpus_not_found,
    job_not_found,
    model_not_found,
    onnx_missing,
    sweep_not_found,
)
from rnnlab.service.store.faults import FULL

# The `detail` of each error answer, as the service words it, by status and by the resource the
# path starts with (a 404 from /predict is about a model, from /train about a corpus).
RESOURCE_OF_PATH = {
    "train": "corpora",
    "predict": "models",
    "generate": "models",
    "plots": "jobs",
}
ERRORS: dict[tuple[int, str | None], str] = {
    (401, None): "this endpoint needs the API key: send 'Authorization: Bearer <key>' or "
    "'X-API-Key: <key>' (the value of RNNLAB_API_KEY)",
    (404, "jobs"): job_not_found(7).detail,
    (404, "corpora"): corpus_not_found(7).detail,
    (404, "models"): model_not_found(7).detail,
    (409, "jobs"): "job 7 already finished (succeeded): nothing to cancel",
    (404, "sweeps"): sweep_not_found(7).detail,
    (409, "sweeps"): "sweep 7 already finished: nothing to cancel",
    (501, None): onnx_missing().detail,
    (409, "corpora"): "corpus 7 is used by 2 job(s) and their models: it cannot be deleted "
    "while they exist",
    (409, "models"): "the weights of model 7 are corrupted (the stored bytes do not match their "
    "sha256): train it again with POST /train",
    (413, None): "the request body is larger than 52428800 bytes (RNNLAB_MAX_UPLOAD_BYTES): "
    "upload a smaller text",
    (429, None): "100 jobs are already queued (RNNLAB_MAX_QUEUED_JOBS=100): retry when some "
    "have finished",
    (503, None): FULL,
}


def documented_error(description: str, detail: str) -> dict[str, Any]:
    """An error response for a route's `responses=` whose message differs from its resource's
    usual one (e.g. the 404 of POST /sweeps is about a corpus)."""
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/ErrorPublic"},
                "example": {"detail": detail},
            }
        },
    }


def error_example(status_code: int, path: str) -> dict[str, str] | None:
    """The body of a `status_code` answer from `path`; None for a status without one here."""
    first = path.split("/")[1]
    resource = RESOURCE_OF_PATH.get(first, first)
    detail = ERRORS.get((status_code, resource)) or ERRORS.get((status_code, None))
    return None if detail is None else {"detail": detail}


ERROR: JsonDict = {"detail": ERRORS[404, "jobs"]}
