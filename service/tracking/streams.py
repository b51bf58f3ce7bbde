"""What one client is sent: its backlog from the database, then the shared feed's reads, each
turned into events past what this client already has (so nothing arrives twice)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from anyio import to_thread

from rnnlab.service.errors import InvalidInput
from rnnlab.service.store.tables import JobStatus
from rnnlab.service.tracking.hub import ALL_JOBS, EventHub, Subscription
from rnnlab.service.tracking.reads import Cursor, JobState, Update, read_jobs, read_update
from rnnlab.service.tracking.wire import KEEPALIVE, Event, View, encode_all

BACKLOG_PAGE = 200  # rows of each source a client's backlog is read and sent by
CLOCK_SLACK = timedelta(seconds=1)  # between the web process's clock and a worker's
MAX_SINCE_MS = 253_402_300_799_999  # the last millisecond of the year 9999, datetime's last


class JobView:
    """What one client of a job's stream has been sent: its cursor and the last progress."""

    def __init__(self, job_id: int, cursor: Cursor) -> None:
        self.job_id = job_id
        self.cursor = cursor
        self.progress = -1.0
        self.ended = False

    def place(self, update: Update) -> Hashable:
        return self.cursor, self.progress, self.ended

    def move(self, update: Update, place: tuple[Cursor, float, bool]) -> None:
        self.cursor, self.progress, self.ended = place

    def events(self, update: Update) -> list[Event]:
        state = update.state
        if state is None:
            self.ended = True
            return [Event("end", {"id": self.job_id, "status": None, "error": "job deleted"})]
        events = [] if state.finished else self._state(state)
        for point in update.metrics:
            if point.id > self.cursor.metric_id:
                self.cursor = replace(self.cursor, metric_id=point.id)
                events.append(Event("metric", point.public(), str(self.cursor)))
        for record in update.records:  # event type: the record's kind
            if record.id > self.cursor.record_id:
                self.cursor = replace(self.cursor, record_id=record.id)
                events.append(Event(record.kind, record.public(), str(self.cursor)))
        if state.finished and update.complete:
            events += self._state(state)
            events.append(Event("end", state.public(), str(self.cursor)))
            self.ended = True
        return events

    def _state(self, state: JobState) -> list[Event]:
        # A feed read older than this client's backlog carries an older state: ignored.
        if state.version > self.cursor.version:
            self.cursor = replace(self.cursor, version=state.version)
            self.progress = state.progress
            return [Event("status", state.public(), str(self.cursor))]
        running = state.status == JobStatus.RUNNING
        if running and state.version == self.cursor.version and state.progress > self.progress:
            self.progress = state.progress
            return [Event("progress", state.timing(), str(self.cursor))]
        return []


async def job_stream(hub: EventHub, job_id: int, cursor: Cursor) -> AsyncGenerator[bytes, None]:
    """The job's events as the bytes sent: its backlog page by page, then what its feed reads,
    until the end event."""
    view = JobView(job_id, cursor)
    async with hub.subscribe(job_id, hub.job_feed(job_id)) as subscription:
        while not view.ended:
            subscription.drain()
            while True:  # the backlog, one page at a time
                async with hub.backlog_turns:
                    page, complete = await to_thread.run_sync(_backlog_page, hub, view)
                if page:
                    yield page
                if complete or view.ended:
                    break
            async for frame in follow(hub, subscription, view, lambda: view.ended):
                yield frame


def _backlog_page(hub: EventHub, view: JobView) -> tuple[bytes, bool]:
    """One bounded read past the client's cursor, as the bytes to send (encoded in the reading
    thread, so that the event loop is not held while a page is encoded)."""
    with hub.db.read() as session:
        update = read_update(
            session, view.job_id, view.cursor, hub.heartbeat_timeout_seconds, BACKLOG_PAGE
        )
    return encode_all(view.events(update)), update.complete


async def follow(
    hub: EventHub, subscription: Subscription, view: View, ended: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """The feed's reads as this client's bytes (what queued meanwhile goes out in one write),
    a keep-alive after a silence, until the stream ends or the client lags behind the feed."""
    queue = subscription.queue
    while not (ended() or subscription.lagged):
        try:
            async with asyncio.timeout(hub.keepalive_seconds):
                shared = await queue.get()
        except TimeoutError:
            yield KEEPALIVE
            continue
        frames = [shared.frame(view)]
        while not (queue.empty() or ended() or subscription.lagged):
            frames.append(queue.get_nowait().frame(view))
        yield b"".join(frames)


class JobsView:
    """What one client of the all-jobs stream has been sent: each job's version and progress."""

    def __init__(self) -> None:
        self.sent: dict[int, tuple[int, float]] = {}

    def place(self, states: tuple[JobState, ...]) -> Hashable:
        return tuple(self.sent.get(state.id) for state in states)

    def move(self, states: tuple[JobState, ...], place: tuple) -> None:
        for state, mark in zip(states, place, strict=True):
            if mark is not None:
                self.sent[state.id] = mark

    def events(self, states: tuple[JobState, ...] | list[JobState]) -> list[Event]:
        events = []
        now = str(int(datetime.now(UTC).timestamp() * 1000))
        for state in states:
            mark = (state.version, state.progress)
            if mark > self.sent.get(state.id, (-1, -1.0)):
                self.sent[state.id] = mark
                events.append(Event("status", state.public(), now))
        return events


def parse_since(last_event_id: str | None) -> datetime | None:
    """The all-jobs stream's ids are the server's clock in milliseconds."""
    if not last_event_id:
        return None
    if not last_event_id.isdigit() or int(last_event_id) > MAX_SINCE_MS:
        raise InvalidInput(
            f"Last-Event-ID {last_event_id[:40]!r} is not an id of this stream: send back the `id` "
            f"of the last event received (milliseconds since 1970, at most {MAX_SINCE_MS}), or "
            "no header to start over"
        )
    return datetime.fromtimestamp(int(last_event_id) / 1000, UTC)


async def jobs_stream(hub: EventHub, since: datetime | None) -> AsyncGenerator[bytes, None]:
    """Every unfinished job's state (and those finished since `since`), then every change."""
    view = JobsView()
    async with hub.subscribe(ALL_JOBS, hub.jobs_feed()) as subscription:
        while True:
            subscription.drain()
            read_at = datetime.now(UTC)
            async with hub.backlog_turns:
                frame = await to_thread.run_sync(_jobs_backlog, hub, view, since)
            if frame:
                yield frame
            async for frame in follow(hub, subscription, view, lambda: False):
                yield frame
            since = read_at - CLOCK_SLACK  # lagged: read again what may have changed since


def _jobs_backlog(hub: EventHub, view: JobsView, since: datetime | None) -> bytes:
    with hub.db.read() as session:
        states = read_jobs(session, frozenset(), None, since, hub.heartbeat_timeout_seconds)
    return encode_all(view.events(states))
