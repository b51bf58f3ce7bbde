"""Domain errors, raised anywhere in the service and turned into HTTP answers in one place."""

from __future__ import annotations


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


class Unavailable(RnnlabError):
    """A feature whose optional dependency is not installed; the message says how to add it."""

    status_code = 501


def sweep_not_found(sweep_id: int) -> NotFound:
    return NotFound(f"sweep {sweep_id} does not exist: GET /sweeps lists the sweeps")


def onnx_missing() -> Unavailable:
    return Unavailable(
        "exporting to ONNX needs the onnx package, an optional extra: pip install "
        "'rnnlab[onnx]' (or pip install onnx) in the service's environment, then restart it"
    )
