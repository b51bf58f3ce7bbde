"""The event hub in process, on a real SQLite database: a client too slow for its feed catches up
from the database, and a job's stream ends with it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from rnnlab.service.store.tables import Job, JobStatus, Metric
from rnnlab.service.tracking import hub as events
from rnnlab.service.tracking import streams
from rnnlab.service.tracking.hub import EventHub
from rnnlab.service.tracking.reads import Cursor
from rnnlab.service.tracking.streams import job_stream
from tests.service.sse import Message, messages


@pytest.fixture
def database(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = Database.connect(f"sqlite:///{tmp_path / 'events.db'}")
    upgrade(db)
    yield db
    db.dispose()


def events_in(chunks: list[bytes]) -> list[Message]:
    """The events in the bytes a stream sent (comments left out)."""
    lines = b"".join(chunks).decode().split("\n")
    return [message for message in messages(lines) if message.event != "message"]


def store(db: Database, job_id: int, step: int) -> None:
    with db.write() as session:
        session.add(Metric(job_id=job_id, name="loss", step=step, value=1.0 / (step + 1)))


def finish(db: Database, job_id: int) -> None:
    with db.write() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.status, job.progress = JobStatus.SUCCEEDED, 1.0


def test_a_slow_client_catches_up_from_the_database(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "QUEUE_SIZE", 3)  # a small queue, so the client falls behind
    with database.write() as session:
        job = Job(task="binary_addition", hyperparams={}, status=JobStatus.RUNNING, attempt=1)
        session.add(job)
        session.flush()
        job_id = job.id

    async def main() -> tuple[list, bool]:
        hub = EventHub(database, poll_seconds=0.01, keepalive_seconds=10)
        stream = job_stream(hub, job_id, Cursor())
        first = events_in([await anext(stream)])
        assert [message.event for message in first] == ["status"]
        for step in range(12):  # each its own poll: more reads than the queue holds
            await asyncio.to_thread(store, database, job_id, step)
            await asyncio.sleep(0.05)
        (feed,) = hub.feeds.values()
        (subscription,) = feed.subscribers
        lagged = subscription.lagged
        await asyncio.to_thread(finish, database, job_id)
        rest = events_in([chunk async for chunk in stream])
        assert hub.feeds == {} and hub.subscribers == 0
        return rest, lagged

    rest, lagged = asyncio.run(main())
    assert lagged, "the client fell behind its feed"
    steps = [message.json["step"] for message in rest if message.event == "metric"]
    assert steps == list(range(12)), "every point once, in order"
    assert [message.event for message in rest[-2:]] == ["status", "end"]


def test_a_long_backlog_is_read_and_sent_in_pages(database: Database) -> None:
    """A finished job of 1,000 points: its stream reads and sends them a page at a time,
    each point once and in order, then the status and the end."""
    with database.write() as session:
        job = Job(task="binary_addition", hyperparams={}, status=JobStatus.RUNNING, attempt=1)
        session.add(job)
        session.flush()
        job_id = job.id
        for step in range(1000):
            session.add(Metric(job_id=job_id, name="loss", step=step, value=1.0))
    finish(database, job_id)

    async def main() -> list[bytes]:
        hub = EventHub(database, poll_seconds=0.01, keepalive_seconds=10)
        return [chunk async for chunk in job_stream(hub, job_id, Cursor())]

    chunks = asyncio.run(main())
    pages = [[m for m in events_in([chunk]) if m.event == "metric"] for chunk in chunks]
    assert len([page for page in pages if page]) == 1000 // streams.BACKLOG_PAGE
    assert max(len(page) for page in pages) == streams.BACKLOG_PAGE
    steps = [message.json["step"] for page in pages for message in page]
    assert steps == list(range(1000)), "every point once, in order"
    assert [message.event for message in events_in(chunks)[-2:]] == ["status", "end"]
