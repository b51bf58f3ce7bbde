"""Domain errors: what went wrong, in the service's terms, raised anywhere in the service.

None of them knows HTTP. The API layer (service/api/errors.py) maps each kind to a status code
and headers in one table; the queue, the corpora and the serving code only say what happened.
Every message says what was wrong and what to do instead: it is the body a client reads.
"""

from __future__ import annotations


class RnnlabError(Exception):
    """Base of every error a client can cause; `detail` is the message the client reads."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# --- something named does not exist ------------------------------------------------------
class Missing(RnnlabError):
    """A job, model or corpus that is not there."""


class JobNotFound(Missing):
    pass


class ModelNotFound(Missing):
    pass


class CorpusNotFound(Missing):
    pass


class NoModelYet(Missing):
    """A request for the newest model of a task that has none yet."""


class NoCorpus(Missing):
    """A next-word job without a corpus, and no corpus registered to default to."""


# --- the request cannot be carried out as asked -------------------------------------------
class InvalidInput(RnnlabError):
    """Well-formed, but not something the service can do (the message names the fix)."""


class CorpusTooSmall(InvalidInput):
    """A corpus too short for the windows a job or the defaults need."""


class OverMemoryBudget(InvalidInput):
    """A job whose estimated memory is over RNNLAB_JOB_MEMORY_BUDGET."""


class WrongTask(InvalidInput):
    """A model asked a question of another task (a next-word model asked a sum)."""


# --- the state of a stored thing forbids it -----------------------------------------------
class InvalidState(RnnlabError):
    """Something that exists is in a state that forbids the request."""


class JobFinished(InvalidState):
    pass


class CorpusInUse(InvalidState):
    pass


class ModelCorrupted(InvalidState):
    """Stored weights no longer match their checksum: the model must be retrained."""


# --- the service declines for now -----------------------------------------------------------
class Busy(RnnlabError):
    """Too much of something is under way; `retry_after_seconds` says when to try again."""

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class QueueFull(Busy):
    """Too many jobs are queued."""


class TooManyUploads(Busy):
    """As many corpus uploads as the service reads at once are already being read."""


class TooManyStreams(RnnlabError):
    """Every event stream the service allows is open (RNNLAB_MAX_OPEN_STREAMS): a stream ends
    when its client leaves, so one frees up soon; `retry_after_seconds` says when to try."""

    retry_after_seconds = 10


class NotAuthenticated(RnnlabError):
    """A protected endpoint called without the API key."""


class TooLarge(RnnlabError):
    """A body over its configured cap."""


class Unavailable(RnnlabError):
    """A feature whose optional dependency is not installed; the message says how to add it."""


class StorageUnavailable(RnnlabError):
    """The database cannot be written for now (disk full, read-only, I/O errors): a request that
    needs to write is declined until an operator fixes it; reads still work."""

    retry_after_seconds = 30  # an operator has to act: a retry within seconds would only fail

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason  # the database's or the OS's own words, for the log


class StorageFull(StorageUnavailable):
    pass


class StorageReadOnly(StorageUnavailable):
    pass


class StorageFailing(StorageUnavailable):
    """Input/output errors of the disk under the database."""


class StorageUnreachable(StorageUnavailable):
    """The database server closed the connection in the middle of a write (it was restarted,
    an administrator ended the session) or cannot be reached: usually over within seconds."""

    retry_after_seconds = 5


# The names code written before the domain names still imports; new code uses the above.
NotFound = Missing
Conflict = InvalidState
Unauthorized = NotAuthenticated
PayloadTooLarge = TooLarge


class SweepNotFound(Missing):
    pass


class AliasNotFound(Missing):
    pass


class SweepFinished(InvalidState):
    pass


class ModelInUse(InvalidState):
    """A model an alias still points at."""


class JobNotFinished(InvalidState):
    """A job still queued or running, which cannot be deleted."""


def job_not_found(job_id: int) -> JobNotFound:
    return JobNotFound(f"job {job_id} does not exist: GET /jobs lists the jobs")


def model_not_found(model_id: int) -> ModelNotFound:
    return ModelNotFound(f"model {model_id} does not exist: GET /models lists the trained models")


def corpus_not_found(corpus_id: int) -> CorpusNotFound:
    return CorpusNotFound(f"corpus {corpus_id} does not exist: GET /corpora lists the corpora")


def sweep_not_found(sweep_id: int) -> SweepNotFound:
    return SweepNotFound(f"sweep {sweep_id} does not exist: GET /sweeps lists the sweeps")


def too_many_streams(limit: int) -> TooManyStreams:
    return TooManyStreams(
        f"{limit} event streams are open, the most this service allows "
        f"(RNNLAB_MAX_OPEN_STREAMS={limit}): retry after "
        f"{TooManyStreams.retry_after_seconds} s, close a stream no longer read, or ask the "
        "operator to raise the setting"
    )


def onnx_missing() -> Unavailable:
    return Unavailable(
        "exporting to ONNX needs the onnx package, an optional extra: pip install "
        "'rnnlab[onnx]' (or pip install onnx) in the service's environment, then restart it"
    )
