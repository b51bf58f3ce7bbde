"""Server-Sent Events: one job's status, progress, metric points and teaching records to its end;
every job's status.

curl -N localhost:8000/jobs/1/events
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from rnnlab.service.api.deps import DatabaseDep, JobId
from rnnlab.service.errors import job_not_found, too_many_streams
from rnnlab.service.schemas.error_examples import documented_error
from rnnlab.service.schemas.ids import MAX_ID
from rnnlab.service.store.tables import Job
from rnnlab.service.tracking.hub import EventHub
from rnnlab.service.tracking.reads import Cursor
from rnnlab.service.tracking.streams import MAX_SINCE_MS, job_stream, jobs_stream, parse_since

router = APIRouter(tags=["events"])

# The first bytes of every stream; `retry:` is how soon a browser's EventSource reconnects
# after a drop, in milliseconds.
CONNECTED = b": connected\nretry: 1000\n\n"
# Nothing cached on the way; nginx sends each event on at once instead of buffering the stream.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# An event id is numbers joined by dots (`<status version>.<metric id>.<record id>`; a status
# alone on /events): the schema says so, and a value of any other form is refused naming the field.
EVENT_ID_PATTERN = r"^[0-9]{1,18}(\.[0-9]{1,18}){0,3}$"
LAST_EVENT_ID = Header(
    alias="Last-Event-ID",
    pattern=EVENT_ID_PATTERN,
    description="The `id` of the last event received: the stream resumes right after it. "
    f"A job's stream: `<status version>.<metric id>.<record id>`, row ids at most {MAX_ID}; "
    f"/events: milliseconds since 1970, at most {MAX_SINCE_MS} (the end of the year 9999).",
)
# What each event of a stream holds, as the published schema says it (as FastAPI's own event
# streams describe theirs): `data` is the event's JSON, written as text.
EVENTS: dict[str, Any] = {
    "description": "Server-Sent Events",
    "content": {
        "text/event-stream": {
            "itemSchema": {
                "type": "object",
                "properties": {
                    "data": {"type": "string"},
                    "event": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer", "minimum": 0},
                },
            }
        }
    },
}
ERRORS: dict[int | str, dict[str, Any]] = {
    200: EVENTS,
    422: {"description": "A Last-Event-ID this stream never sent"},
    503: {
        **documented_error(
            "RNNLAB_MAX_OPEN_STREAMS streams are open already: retry after `Retry-After` seconds",
            too_many_streams(500).detail,
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer"},
            }
        },
    },
}


def get_hub(request: Request) -> EventHub:
    return request.app.state.events


async def stream_slot(hub: Annotated[EventHub, Depends(get_hub)]) -> AsyncIterator[None]:
    """Held until the response ends (a dependency's exit runs after the response is sent),
    whatever ends it: the client leaving, the job's end, or a refusal further on."""
    with hub.stream_slot():
        yield


def existing_job(job_id: JobId, db: DatabaseDep) -> int:
    # A short session of its own: a dependency's session would stay open as long as the stream.
    with db.read() as session:
        if session.get(Job, job_id) is None:
            raise job_not_found(job_id)
    return job_id


def job_cursor(
    last_event_id: Annotated[str | None, LAST_EVENT_ID] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=EVENT_ID_PATTERN,
            description="An event id to start after, for clients that cannot set headers "
            "(a browser's first EventSource connection); Last-Event-ID wins over it.",
        ),
    ] = None,
) -> Cursor:
    return Cursor.parse(last_event_id or after)


def jobs_since(
    last_event_id: Annotated[str | None, LAST_EVENT_ID] = None,
) -> datetime | None:
    return parse_since(last_event_id)


class EventStream(StreamingResponse):
    """text/event-stream from an async iterator of encoded events.

    The iterator is closed as soon as the response ends, however it ends: a client gone
    mid-stream (disconnected, killed) gives its place on the feed back at once, not whenever
    the garbage collector gets to a generator abandoned while it waited to send. (FastAPI's
    own event streams end a dependency's `yield` before the first event: the stream's slot
    would be given back at once.)"""

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncGenerator[bytes, None]) -> None:
        self.generators = (_greeted(frames), frames)
        super().__init__(self.generators[0], headers=STREAM_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            for generator in self.generators:
                await generator.aclose()


async def _greeted(frames: AsyncIterator[bytes]) -> AsyncGenerator[bytes, None]:
    yield CONNECTED
    async for frame in frames:
        if frame:  # an empty chunk would end a chunked body
            yield frame


@router.get(
    "/jobs/{job_id}/events",
    response_class=EventStream,
    status_code=200,
    summary="Stream a job's events",
    responses={404: {"description": "No such job"}, **ERRORS},
)
async def stream_job(
    job_id: Annotated[int, Depends(existing_job)],
    cursor: Annotated[Cursor, Depends(job_cursor)],
    hub: Annotated[EventHub, Depends(get_hub)],
    _slot: Annotated[None, Depends(stream_slot)],
) -> EventStream:
    """Server-Sent Events until the job ends: `status` (the job's state, with `elapsed_seconds`
    and `eta_seconds`) when it changes, `progress` as it trains, one `metric` per stored point
    (`name`, `step`, `value`, `timestamp`), one event per teaching record named by its kind
    (`sums`, `bit_accuracy`, `gradient_norms`, `generated`: the fields of GET
    /jobs/{id}/records), and last `end` with the final state.

    Every event's `id` is `<status version>.<last metric row id>.<last record row id>`:
    reconnect with it as `Last-Event-ID` and the stream sends what came after, nothing twice.
    Comments (`: keep-alive`) keep an idle connection open through proxies."""
    return EventStream(job_stream(hub, job_id, cursor))


@router.get(
    "/events",
    response_class=EventStream,
    status_code=200,
    summary="Stream every job's status",
    responses=ERRORS,
)
async def stream_jobs(
    since: Annotated[datetime | None, Depends(jobs_since)],
    hub: Annotated[EventHub, Depends(get_hub)],
    _slot: Annotated[None, Depends(stream_slot)],
) -> EventStream:
    """Server-Sent Events that never end: a `status` event for each unfinished job when
    connecting, then one whenever a job is created, changes status or progresses (the same fields
    as a job's own `status` event). Ids are the server's clock in milliseconds: reconnecting with
    `Last-Event-ID` also sends the jobs that finished in between."""
    return EventStream(jobs_stream(hub, since))


@router.get("/events/stats", summary="Who is watching")
async def stream_stats(hub: Annotated[EventHub, Depends(get_hub)]) -> dict[str, Any]:
    """Open event streams and the database polls behind them: one feed per watched job, however
    many clients watch it; a feed ends with its last client."""
    return hub.stats()
