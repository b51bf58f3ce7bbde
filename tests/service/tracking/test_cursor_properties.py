"""A job's event stream and its cursor (service/tracking/reads.py, streams.py, hub.py), as
properties over random interleavings of status changes, metric points and teaching records
written to a real SQLite database while a client reads, reconnects and reads on:
- everything the job stored reaches the client exactly once, each source in id order, however
  the reads, the reconnects (`Last-Event-ID`) and the writes interleave;
- resumed from any cursor it was sent, the stream delivers exactly what was stored past that
  cursor, and no status it had already;
- the read layer alone (`read_update` and `advance`, as the shared feed polls) returns each row
  past its position once, also when a batch limit cuts a read short.

The client is the stream of streams.py `job_stream`, step by step and without its event loop:
its feed's position is taken when it subscribes, its backlog is read at its next read (writes
may fall in between, so the feed then re-reads rows the backlog sent), then it follows the feed,
whose reads hub.py `JobFeed.digest` judges (published or not, polled again or stopped).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from rnnlab.service.store.db import Database
from rnnlab.service.store.migrate import upgrade
from rnnlab.service.store.tables import Job, JobRecord, JobStatus, Metric, utcnow
from rnnlab.service.tracking import reads
from rnnlab.service.tracking.hub import EventHub, JobFeed
from rnnlab.service.tracking.reads import Cursor, Update, advance, newest_cursor, read_update
from rnnlab.service.tracking.streams import JobView

SMALL_BATCH = 3  # rows per read: a backlog of a few rows already takes several reads
ITEM_EVENTS = {"metric"}  # plus every record kind
RECORD_KINDS = ("sums", "generated")
OPERATIONS = ("metric", "record", "flush", "status", "progress", "read", "read", "reconnect")


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One database for the module (each example writes a job of its own), read in batches of
    SMALL_BATCH rows so that reads cut short are the common case."""
    path = Path(tmp_path_factory.mktemp("cursors")) / "rnnlab.db"
    db = Database.connect(f"sqlite:///{path}")
    upgrade(db)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reads, "READ_BATCH", SMALL_BATCH)
        yield db
    db.dispose()


# --- the writer: a job as a worker and the queue change it ------------------------------------


@dataclass
class Writer:
    db: Database
    job_id: int
    step: int = 0

    @classmethod
    def new_job(cls, db: Database) -> Writer:
        with db.write() as session:
            job = Job(task="a-task", hyperparams={})
            session.add(job)
            session.flush()
            return cls(db, job.id)

    def job(self) -> tuple[str, int, bool]:
        with self.db.read() as session:
            job = session.get(Job, self.job_id)
            assert job is not None
            return job.status, job.attempt, job.cancel_requested

    def finished(self) -> bool:
        return self.job()[0] in JobStatus.FINISHED

    def write(self, metrics: int, records: int) -> None:
        """Rows stored in one transaction, as a flush stores them; none once the job ended
        (a job ends in the transaction that writes its last rows)."""
        if self.finished():
            return
        with self.db.write() as session:
            for _ in range(metrics):
                self.step += 1
                session.add(Metric(job_id=self.job_id, name="loss", step=self.step, value=1.0))
            for n in range(records):  # one record of a kind per step
                self.step += 1
                kind = RECORD_KINDS[self.step % len(RECORD_KINDS)]
                session.add(
                    JobRecord(job_id=self.job_id, kind=kind, step=self.step, payload={"n": n})
                )

    def change_status(self, choice: int) -> None:
        """The next status the queue or a worker may give the job; `choice` picks among them."""
        status, attempt, cancel_requested = self.job()
        if status == JobStatus.QUEUED:
            values = {"status": JobStatus.RUNNING, "attempt": attempt + 1, "started_at": utcnow()}
        elif status == JobStatus.RUNNING:
            ends = [
                {"status": JobStatus.QUEUED},  # requeued: its worker was lost
                {"status": JobStatus.SUCCEEDED, "progress": 1.0, "finished_at": utcnow()},
                {"status": JobStatus.FAILED, "error": "failed", "finished_at": utcnow()},
                {"status": JobStatus.CANCELLED, "finished_at": utcnow()},
            ]
            if not cancel_requested:
                ends.append({"cancel_requested": True})
            values = ends[choice % len(ends)]
        else:
            return
        with self.db.write() as session:
            session.execute(update(Job).where(Job.id == self.job_id).values(values))

    def progress(self) -> None:
        with self.db.write() as session:
            session.execute(
                update(Job)
                .where(Job.id == self.job_id, Job.status == JobStatus.RUNNING)
                .values(progress=Job.progress + 0.01)
            )

    def stored(self) -> tuple[list[int], list[int]]:
        """The ids of the job's metric points and records."""
        with self.db.read() as session:
            metrics = session.scalars(select(Metric.id).where(Metric.job_id == self.job_id))
            records = session.scalars(select(JobRecord.id).where(JobRecord.job_id == self.job_id))
            return sorted(metrics), sorted(records)


# --- the client: a job stream, step by step ----------------------------------------------------


@dataclass
class Client:
    db: Database
    job_id: int
    received: list = field(default_factory=list)  # every event, over every connection
    view: JobView | None = None
    feed: JobFeed | None = None
    feed_position: Cursor | None = None
    feed_stopped: bool = False
    backlog_read: bool = False

    def connect(self, cursor: Cursor) -> None:
        """Subscribe: the feed starts past what is stored now; the backlog is read later."""
        self.view = JobView(self.job_id, cursor)
        hub = EventHub(self.db, poll_seconds=0.1, keepalive_seconds=15.0)
        self.feed = JobFeed(hub, self.job_id, lambda feed: None)
        with self.db.read() as session:
            self.feed_position = newest_cursor(session, self.job_id)
        self.feed_stopped = False
        self.backlog_read = False

    def reconnect(self) -> None:
        """The connection drops; the client comes back with the id of its last event (not
        after the end event: a client that got it stops)."""
        if self.view is not None and self.view.ended:
            return
        ids = [event.id for event in self.received if event.id]
        self.connect(meant(ids[-1]) if ids else Cursor())

    def read(self) -> None:
        """The backlog once per connection, then one poll of the feed (read again at once
        while a batch limit cut it short, as the feed does; never again once it stopped)."""
        assert self.view is not None and self.feed is not None and self.feed_position is not None
        if self.view.ended:
            return
        if not self.backlog_read:
            self.backlog_read = True
            while True:
                update_ = self._read(self.view.cursor)
                self.received += self.view.events(update_)
                if update_.complete or self.view.ended:
                    break
        while not (self.view.ended or self.feed_stopped):
            update_ = self._read(self.feed_position)
            published, self.feed_position, again, self.feed_stopped = self.feed.digest(
                self.feed_position, update_
            )
            if published is not None:
                self.received += self.view.events(published)
            if not again:
                return

    def _read(self, cursor: Cursor):
        with self.db.read() as session:
            return read_update(session, self.job_id, cursor)


def meant(event_id: str) -> Cursor:
    """The cursor an event id stands for, read without `Cursor.parse` (whose acceptance of every
    id sent is a property of its own, below)."""
    return Cursor(*(int(part) for part in event_id.split(".")))


def delivered(events: list) -> tuple[list[int], list[int], list[int]]:
    """(metric ids, record ids, status versions) in the order the events brought them."""
    metric_ids, record_ids, versions = [], [], []
    for event in events:
        if event.name == "metric":
            metric_ids.append(meant(event.id).metric_id)
        elif event.name in RECORD_KINDS:
            record_ids.append(event.data["id"])
        elif event.name == "status":
            versions.append(meant(event.id).version)
    return metric_ids, record_ids, versions


def run(database: Database, operations: list[tuple[str, int]]) -> tuple[Writer, Client]:
    writer = Writer.new_job(database)
    client = Client(database, writer.job_id)
    client.connect(Cursor())
    for operation, n in operations:
        if operation == "metric":
            writer.write(n, 0)
        elif operation == "record":
            writer.write(0, n)
        elif operation == "flush":
            writer.write(n, n)
        elif operation == "status":
            writer.change_status(n)
        elif operation == "progress":
            writer.progress()
        elif operation == "read":
            client.read()
        else:
            client.reconnect()
    client.read()  # read to its end: what is stored now
    client.read()
    return writer, client


interleavings = st.lists(
    st.tuples(st.sampled_from(OPERATIONS), st.integers(1, 4)), min_size=1, max_size=30
)


@settings(max_examples=80, deadline=None)
@given(interleavings)
def test_every_row_reaches_the_client_exactly_once_in_order(database: Database, operations):
    writer, client = run(database, operations)
    metric_ids, record_ids, versions = delivered(client.received)
    stored_metrics, stored_records = writer.stored()
    assert metric_ids == stored_metrics, "metric points: each once, in order"
    assert record_ids == stored_records, "teaching records: each once, in order"
    assert versions == sorted(set(versions)), "a status is never sent twice, nor an older one"
    ends = [event for event in client.received if event.name == "end"]
    assert len(ends) == (1 if writer.finished() else 0), "a finished job's stream ends, once"
    if ends:
        assert client.received[-1] is ends[0]
        assert client.received[-2].name == "status"
        assert client.received[-2].data["status"] == writer.job()[0]


@settings(max_examples=40, deadline=None)
@given(interleavings)
def test_resumed_from_any_cursor_it_sent_the_stream_sends_exactly_what_follows(
    database: Database, operations
) -> None:
    writer, client = run(database, operations)
    stored_metrics, stored_records = writer.stored()
    for sent in sorted({event.id for event in client.received if event.id}):
        cursor = meant(sent)
        assert str(cursor) == sent
        resumed = Client(database, writer.job_id)
        resumed.connect(cursor)
        resumed.read()
        metric_ids, record_ids, versions = delivered(resumed.received)
        assert metric_ids == [i for i in stored_metrics if i > cursor.metric_id], sent
        assert record_ids == [i for i in stored_records if i > cursor.record_id], sent
        assert all(version > cursor.version for version in versions), sent


@settings(max_examples=60, deadline=None)
@given(interleavings, st.integers(0, 12))
def test_the_feed_reads_each_row_past_its_position_once(
    database: Database, operations, start_after: int
) -> None:
    """`read_update` then `advance`, as a feed polls: every row stored after the position it
    started from, once; and `newest_cursor` is past every row stored."""
    writer = Writer.new_job(database)
    position = Cursor()
    seen_metrics: list[int] = []
    seen_records: list[int] = []

    def poll() -> None:
        nonlocal position
        while True:
            with database.read() as session:
                update_ = read_update(session, writer.job_id, position)
            seen_metrics.extend(point.id for point in update_.metrics)
            seen_records.extend(record.id for record in update_.records)
            position = advance(position, update_)
            if update_.complete:
                return

    for index, (operation, n) in enumerate(operations):
        if index == start_after:  # a feed that starts late starts past what is stored
            with database.read() as session:
                position = newest_cursor(session, writer.job_id)
            seen_metrics[:], seen_records[:] = writer.stored()  # the backlog's part
        if operation in ("metric", "record", "flush"):
            writer.write(n if operation != "record" else 0, n if operation != "metric" else 0)
        elif operation == "status":
            writer.change_status(n)
        elif operation == "read":
            poll()
    poll()
    assert (seen_metrics, seen_records) == writer.stored()
    with database.read() as session:
        newest = newest_cursor(session, writer.job_id)
        assert read_update(session, writer.job_id, newest).metrics == ()
        assert read_update(session, writer.job_id, newest).records == ()


def test_every_id_the_stream_sends_is_taken_back_as_last_event_id(database: Database) -> None:
    """A stream that starts at a finished job sends its rows before its status: their ids, as
    every other, are taken back (they were `-1.1.0` and refused, so a client that dropped before
    the end event could not resume)."""
    writer = Writer.new_job(database)
    writer.change_status(0)  # running
    writer.write(2, 1)
    writer.change_status(1)  # succeeded
    client = Client(database, writer.job_id)
    client.connect(Cursor())
    client.read()
    sent = [event.id for event in client.received if event.id]
    assert [event.name for event in client.received][-2:] == ["status", "end"]
    for event_id in sent:
        assert Cursor.parse(event_id) == meant(event_id)


def test_a_client_following_the_feed_gets_the_end_when_the_last_batch_is_full(
    database: Database,
) -> None:
    """The read that first sees the job finished is cut by the batch limit exactly at its last
    row: the next read brings nothing new, yet it ends the feed, so it is published (it was
    not, and the client waited on keep-alives for ever)."""
    writer = Writer.new_job(database)
    writer.change_status(0)  # running
    client = Client(database, writer.job_id)
    client.connect(Cursor())
    client.read()  # the backlog: the running status; the client now follows the feed
    writer.write(SMALL_BATCH, 0)  # exactly one batch of rows...
    writer.change_status(1)  # ...then the end (succeeded)
    client.read()
    assert metrics_received(client) == writer.stored()[0]  # every row arrived
    assert [event.name for event in client.received][-1] == "end"


def test_a_feed_whose_first_read_finds_the_job_deleted_publishes_it(database: Database) -> None:
    """Deleted between a client's backlog read and the feed's first read: that read, which
    stops the feed, is the client's only way to the end event."""
    writer = Writer.new_job(database)
    feed = JobFeed(EventHub(database, 0.1, 15.0), writer.job_id, lambda feed: None)
    published, _, again, stopped = feed.digest(Cursor(), Update(None))
    assert published == Update(None) and stopped and not again
    view = JobView(writer.job_id, Cursor())
    assert [event.name for event in view.events(published)] == ["end"]


def metrics_received(client: Client) -> list[int]:
    return delivered(client.received)[0]
