"""One database poller per watched job in the web process, fanned out to every client watching it.

Fifty browsers on one job cost the database what one costs: a `JobFeed` reads the job's state,
new points and teaching records every `poll_seconds` while anyone listens, and hands each read
to its subscribers' queues, a slice of them per turn of the event loop, as one `Shared` whose
bytes are encoded once for all the subscribers at the same place in the stream. A subscriber
first reads its own backlog (once, when it connects, page by page, a few clients' pages at a
time), then follows the feed, skipping what its backlog already covered. A client too slow for
the feed is not waited for: its queue overflows, it is marked lagged and catches up from the
database. The last subscriber to leave stops the feed, so nothing outlives the clients; the
streams open at once are capped (`stream_slot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from anyio import to_thread

from rnnlab.service.errors import StorageUnavailable, too_many_streams
from rnnlab.service.store.db import Database
from rnnlab.service.tracking.reads import (
    Cursor,
    JobState,
    Update,
    advance,
    newest_cursor,
    newest_job_id,
    read_jobs,
    read_update,
)
from rnnlab.service.tracking.wire import Shared

log = logging.getLogger(__name__)

QUEUE_SIZE = 256  # reads a subscriber may fall behind before it catches up from the database
# Subscribers handed a read in one turn of the event loop; then other requests get a turn, so
# that a read fanned out to hundreds of watchers does not hold a /predict for all of them.
FANOUT_SLICE = 32
BACKLOG_READERS = 2  # client backlogs read at once (see EventHub.backlog_turns)
RETRY_SECONDS = 1.0  # after a failed poll (the database restarting, say)


class Subscription:
    """One client's place on a feed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        self.lagged = False

    def offer(self, item: Any) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.lagged = True

    def drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.lagged = False


class Feed:
    """Polls while it has subscribers and hands each changed read to every one of them."""

    def __init__(self, key: Any, poll_seconds: float, on_idle: Callable[[Feed], None]) -> None:
        self.key = key
        self.poll_seconds = poll_seconds
        self.subscribers: set[Subscription] = set()
        self.polls = 0
        self._on_idle = on_idle
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def position(self) -> Any:
        """Where polling starts: everything before it, a subscriber reads as its backlog."""
        raise NotImplementedError

    async def read(self, position: Any) -> tuple[Any, Any, bool, bool]:
        """(item or None when nothing changed, next position, read again at once, finished)."""
        raise NotImplementedError

    async def join(self) -> Subscription:
        subscription = Subscription()
        self.subscribers.add(subscription)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"rnnlab-feed-{self.key}")
        try:
            await self._ready.wait()
        except BaseException:  # the client left before the feed's first read
            self.leave(subscription)
            raise
        return subscription

    def leave(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)
        if not self.subscribers:
            if self._task is not None:
                self._task.cancel()
            self._on_idle(self)

    async def _run(self) -> None:
        position: Any = None
        while self.subscribers:
            try:
                if position is None:
                    position = await self.position()
                    self._ready.set()
                item, position, again, finished = await self.read(position)
            except StorageUnavailable:  # an outage: faults.STATUS logs it once, not each poll
                await asyncio.sleep(RETRY_SECONDS)
                continue
            except Exception:
                log.exception("event feed %s: poll failed; retrying", self.key)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.polls += 1
            if item is not None:
                await self._publish(Shared(item))
            if finished:
                return
            if not again:
                await asyncio.sleep(self.poll_seconds)

    async def _publish(self, shared: Shared) -> None:
        for index, subscription in enumerate(list(self.subscribers)):
            if index and index % FANOUT_SLICE == 0:
                await asyncio.sleep(0)
            subscription.offer(shared)


class JobFeed(Feed):
    """A job's state and the points it stores, published whenever they change."""

    def __init__(self, hub: EventHub, job_id: int, on_idle) -> None:  # type: ignore[no-untyped-def]
        super().__init__(job_id, hub.poll_seconds, on_idle)
        self.db = hub.db
        self.heartbeat_timeout_seconds = hub.heartbeat_timeout_seconds
        self._last_state: Any = None

    async def position(self) -> Cursor:
        return await to_thread.run_sync(self._newest_cursor)

    async def read(self, position: Cursor) -> tuple[Update | None, Cursor, bool, bool]:
        update = await to_thread.run_sync(self._read, position)
        return self.digest(position, update)

    def digest(self, position: Cursor, update: Update) -> tuple[Update | None, Cursor, bool, bool]:
        """What a read means for the feed (see `Feed.read`). The read that ends the feed is
        always published: it is what brings the end event, even when it brings nothing new (the
        read before it, cut by the batch limit at its last row, saw the job finished already)."""
        changed = bool(update.metrics or update.records) or update.state != self._last_state
        self._last_state = update.state
        finished = update.state is None or (update.state.finished and update.complete)
        again = not update.complete
        published = update if changed or finished else None
        return published, advance(position, update), again, finished

    def _newest_cursor(self) -> Cursor:
        with self.db.read() as session:
            return newest_cursor(session, self.key)

    def _read(self, position: Cursor) -> Update:
        with self.db.read() as session:
            return read_update(session, self.key, position, self.heartbeat_timeout_seconds)


class EventHub:
    """The feeds of the web process, by key; each exists while somebody listens to it."""

    def __init__(
        self,
        db: Database,
        poll_seconds: float,
        keepalive_seconds: float,
        heartbeat_timeout_seconds: float | None = None,
        max_open_streams: int | None = None,
    ) -> None:
        self.db = db
        self.poll_seconds = poll_seconds
        self.keepalive_seconds = keepalive_seconds
        # A running job whose worker is silent past it is shown queued, as GET /jobs shows it.
        self.heartbeat_timeout_seconds = heartbeat_timeout_seconds
        self.feeds: dict[Any, Feed] = {}
        self.subscribers = 0
        # Each open stream holds a socket, a task and its place on a feed: beyond this many,
        # one more would slow every other request of the process, so it is refused instead.
        self.max_open_streams = max_open_streams
        self.open_streams = 0
        # Backlogs read at once, each in a thread of its own that holds the GIL while it reads
        # and encodes: hundreds at once would leave the event loop, and every request waiting
        # on it, a sliver of the interpreter. A few at a time, clients take turns by pages.
        self.backlog_turns = asyncio.Semaphore(BACKLOG_READERS)

    @contextlib.contextmanager
    def stream_slot(self) -> Iterator[None]:
        """One of the open streams the service allows, held while the stream lasts."""
        limit = self.max_open_streams
        if limit is not None and self.open_streams >= limit:
            raise too_many_streams(limit)
        self.open_streams += 1
        try:
            yield
        finally:
            self.open_streams -= 1

    @contextlib.asynccontextmanager
    async def subscribe(self, key: Any, make: Callable[[], Feed]) -> AsyncIterator[Subscription]:
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = make()
        self.subscribers += 1
        try:
            subscription = await feed.join()
            try:
                yield subscription
            finally:
                feed.leave(subscription)
        finally:
            self.subscribers -= 1

    def job_feed(self, job_id: int) -> Callable[[], Feed]:
        return lambda: JobFeed(self, job_id, self._forget)

    def jobs_feed(self) -> Callable[[], Feed]:
        return lambda: JobsFeed(self, self._forget)

    def _forget(self, feed: Feed) -> None:
        if self.feeds.get(feed.key) is feed:
            del self.feeds[feed.key]

    def stats(self) -> dict[str, Any]:
        return {
            "open_streams": self.open_streams,
            "max_open_streams": self.max_open_streams,
            "subscribers": self.subscribers,
            "feeds": [
                {"key": str(key), "subscribers": len(feed.subscribers), "polls": feed.polls}
                for key, feed in self.feeds.items()
            ],
        }


@dataclass(frozen=True)
class JobsPosition:
    watched: frozenset[int]  # unfinished at the last read: the next read sees them finish
    newest_id: int


class JobsFeed(Feed):
    """Every job's state, published when a job appears, changes status or progresses."""

    def __init__(self, hub: EventHub, on_idle) -> None:  # type: ignore[no-untyped-def]
        super().__init__(ALL_JOBS, hub.poll_seconds, on_idle)
        self.db = hub.db
        self.heartbeat_timeout_seconds = hub.heartbeat_timeout_seconds
        self._seen: dict[int, JobState] = {}

    async def position(self) -> JobsPosition:
        states, newest = await to_thread.run_sync(self._read, JobsPosition(frozenset(), -1))
        self._seen = {state.id: state for state in states}
        return JobsPosition(frozenset(self._seen), newest)

    async def read(self, position: JobsPosition) -> tuple[Any, JobsPosition, bool, bool]:
        states, newest = await to_thread.run_sync(self._read, position)
        changed = tuple(state for state in states if self._seen.get(state.id) != state)
        self._seen = {state.id: state for state in states if not state.finished}
        return changed or None, JobsPosition(frozenset(self._seen), newest), False, False

    def _read(self, position: JobsPosition) -> tuple[list[JobState], int]:
        with self.db.read() as session:
            if position.newest_id < 0:  # the first read: only what is unfinished
                newest = newest_job_id(session)
                timeout = self.heartbeat_timeout_seconds
                return read_jobs(session, frozenset(), newest, None, timeout), newest
            states = read_jobs(
                session, position.watched, position.newest_id, None, self.heartbeat_timeout_seconds
            )
            return states, max([position.newest_id, *(state.id for state in states)])


ALL_JOBS = "all"
