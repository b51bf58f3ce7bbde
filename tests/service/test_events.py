"""Server-Sent Events over real HTTP: a job streamed to its end, a reconnect that neither loses nor
repeats, fifty clients behind one database poll, nothing left behind by a client that leaves."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx

from tests.conftest import LiveService
from tests.service.sse import Message, amessages, cursor, messages

LONG_JOB = {"epochs": 10_000, "hidden_size": 64, "embedding_size": 32}
POLL_SECONDS = 0.1  # the service's default RNNLAB_EVENTS_POLL_SECONDS


def stream(live: LiveService, path: str, headers: dict | None = None) -> Iterator[Message]:
    with live.client.stream("GET", path, headers=headers or {}, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield from messages(response.iter_lines())


def points_of(events: list[Message]) -> list[tuple[str, int, float]]:
    return [
        (m.json["name"], m.json["step"], m.json["value"]) for m in events if m.event == "metric"
    ]


RECORD_KINDS = ("sums", "bit_accuracy", "gradient_norms", "generated")


def records_of(events: list[Message]) -> list[tuple[int, str, int]]:
    """(row id, kind, step) of the teaching-record events: the event type is the kind."""
    found = [(m.json["id"], m.event, m.json["step"]) for m in events if m.event in RECORD_KINDS]
    assert all(m.json["kind"] == m.event for m in events if m.event in RECORD_KINDS)
    return found


def stored_records(live: LiveService, job_id: int) -> list[tuple[int, str, int]]:
    body = live.client.get(f"/jobs/{job_id}/records", params={"limit": 1000}).json()
    assert body["next_since_id"] is None
    return [(r["id"], r["kind"], r["step"]) for r in body["records"]]


def stored_points(live: LiveService, job_id: int) -> list[tuple[str, int, float]]:
    metrics = live.client.get(f"/jobs/{job_id}/metrics").json()["metrics"]
    return [(m["name"], m["step"], m["value"]) for m in metrics]


def wait_for_stats(live: LiveService, check, timeout: float = 5.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        stats = live.client.get("/events/stats").json()
        if check(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


NOBODY = {"open_streams": 0, "subscribers": 0, "feeds": []}


def who_watches(stats: dict) -> dict:
    """/events/stats without the limit it also reports."""
    return {key: stats[key] for key in NOBODY}


def test_a_whole_job_streams_to_its_end(service: LiveService) -> None:
    job = service.train("binary_addition", log_every=2, gradient_norms_every=4)
    events = list(stream(service, f"/jobs/{job['id']}/events"))

    assert events[0].comments == ["connected"]
    named = [m for m in events if m.event != "message"]
    assert named[0].event == "status"
    assert named[-1].event == "end"
    assert named[-1].json["status"] == "succeeded"
    assert named[-1].json["model_id"] is not None
    assert named[-1].json["eta_seconds"] == 0
    assert named[-1].json["elapsed_seconds"] > 0
    statuses = [m.json["status"] for m in named if m.event == "status"]
    assert statuses[-1] == "succeeded"
    assert sorted(points_of(named)) == sorted(stored_points(service, job["id"]))
    assert len(points_of(named)) > 20
    records = records_of(named)
    assert records == stored_records(service, job["id"])
    assert {kind for _, kind, _ in records} == {"sums", "bit_accuracy", "gradient_norms"}
    ids = [cursor(m.id) for m in named]
    assert ids == sorted(ids), "ids only grow"


def test_reconnect_with_last_event_id_has_no_gap_and_no_duplicate(service_factory) -> None:
    live = service_factory()
    job = live.train("next_word", **LONG_JOB, gradient_norms_every=3)
    path = f"/jobs/{job['id']}/events"
    first: list[Message] = []
    for message in stream(live, path):
        first.append(message)
        if len(points_of(first)) >= 5 and records_of(first):
            break  # the client goes away mid-job
    last_id = next(m.id for m in reversed(first) if m.id)
    time.sleep(1.5)  # the job stores more points meanwhile
    assert len(stored_points(live, job["id"])) > len(points_of(first))

    second: list[Message] = []
    for message in stream(live, path, {"Last-Event-ID": last_id}):
        second.append(message)
        if (
            len(points_of(second)) >= 5
            and not live.client.get(f"/jobs/{job['id']}").json()["cancel_requested"]
        ):
            assert live.client.post(f"/jobs/{job['id']}/cancel").status_code == 202
    assert second[-1].event == "end" and second[-1].json["status"] == "cancelled"
    assert "status" not in [m.event for m in second[:2]], "the state had not changed"
    progress = [m.json for m in first + second if m.event == "progress"]
    assert progress and all(p["elapsed_seconds"] > 0 and p["eta_seconds"] > 0 for p in progress)
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress)

    streamed = points_of(first) + points_of(second)
    assert len(streamed) == len(set(streamed)), "a point was sent twice"
    assert sorted(streamed) == sorted(stored_points(live, job["id"])), "a point was missed"
    records = records_of(first) + records_of(second)
    assert records_of(second), "records stored while away came on reconnecting"
    assert records == stored_records(live, job["id"]), "a record was missed, repeated or late"
    assert {kind for _, kind, _ in records} >= {"gradient_norms", "generated"}
    ids = [cursor(m.id) for m in first + second if m.id]
    assert ids == sorted(ids)


def test_a_finished_job_resumed_from_its_last_id_only_ends(service: LiveService) -> None:
    job = service.wait_for_job(service.train("binary_addition")["id"])
    events = list(stream(service, f"/jobs/{job['id']}/events"))
    again = list(stream(service, f"/jobs/{job['id']}/events", {"Last-Event-ID": events[-1].id}))
    assert [m.event for m in again if m.event != "message"] == ["end"]


def test_a_finished_job_resumes_from_any_id_mid_backlog(service: LiveService) -> None:
    """A stream that starts at a finished job sends its rows before its status: a client that
    drops after any of them resumes with its id and gets the rest, then the status and the end."""
    job = service.wait_for_job(service.train("binary_addition", log_every=50)["id"])
    path = f"/jobs/{job['id']}/events"
    events = [m for m in stream(service, path) if m.event != "message"]
    assert [m.event for m in events][-2:] == ["status", "end"]
    rows = [m for m in events if m.event == "metric" or m.event in RECORD_KINDS]
    assert rows and events.index(rows[-1]) < len(events) - 2, "rows come before the status"
    for dropped_after in (rows[0], rows[len(rows) // 2], rows[-1]):
        headers = {"Last-Event-ID": dropped_after.id}
        again = [m for m in stream(service, path, headers) if m.event != "message"]
        following = events[events.index(dropped_after) + 1 :]
        assert [(m.event, m.data) for m in again] == [(m.event, m.data) for m in following]


def test_fifty_clients_on_one_job_cost_one_poll_and_leave_nothing(service_factory) -> None:
    live = service_factory()
    job = live.train("next_word", **LONG_JOB)
    live.wait_for_job(job["id"], until=("running",))
    clients = 50
    received = [0] * clients

    async def watch(index: int, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", f"/jobs/{job['id']}/events") as response:
            async for message in amessages(response.aiter_lines()):
                if message.event == "metric":
                    received[index] += 1

    async def main() -> tuple[dict, dict, dict]:
        limits = httpx.Limits(max_connections=clients + 5)
        async with httpx.AsyncClient(base_url=live.base_url, limits=limits, timeout=60) as client:
            tasks = [asyncio.create_task(watch(i, client)) for i in range(clients)]
            deadline = time.monotonic() + 30
            while min(received) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            stats = await asyncio.to_thread(lambda: live.client.get("/events/stats").json())
            await asyncio.sleep(2.0)
            later = await asyncio.to_thread(lambda: live.client.get("/events/stats").json())
            for task in tasks:
                task.cancel()  # every client disconnects
            await asyncio.gather(*tasks, return_exceptions=True)
        gone = await asyncio.to_thread(
            wait_for_stats, live, lambda s: s["subscribers"] == 0 and not s["feeds"]
        )
        return stats, later, gone

    stats, later, gone = asyncio.run(main())
    assert min(received) >= 2, "every client receives the points"
    assert stats["subscribers"] == clients
    assert [(f["key"], f["subscribers"]) for f in stats["feeds"]] == [(str(job["id"]), clients)]
    polls = later["feeds"][0]["polls"] - stats["feeds"][0]["polls"]
    # One poller: about 2 s / 0.1 s = 20 reads, not 50 clients x 20.
    assert 0 < polls <= 2.0 / POLL_SECONDS + 5, polls
    assert who_watches(gone) == NOBODY, "a feed outlived its clients"
    live.client.post(f"/jobs/{job['id']}/cancel")


def test_a_client_that_disconnects_leaves_nothing_behind(service_factory) -> None:
    live = service_factory()
    job = live.train("next_word", **LONG_JOB)
    for path in (f"/jobs/{job['id']}/events", "/events"):
        for message in stream(live, path):
            if message.event in ("metric", "status"):
                watching = live.client.get("/events/stats").json()
                assert watching["subscribers"] == 1 and len(watching["feeds"]) == 1
                break  # closes the connection
        stats = wait_for_stats(live, lambda s: s["subscribers"] == 0 and not s["feeds"])
        assert who_watches(stats) == NOBODY, path
    live.client.post(f"/jobs/{job['id']}/cancel")


def test_a_client_that_leaves_mid_backlog_is_no_error_in_the_log(service: LiveService) -> None:
    """A client gone while events are being handed over (a backlog of thousands) ends its
    stream quietly: FastAPI's keepalive task then raises BrokenResourceError, which is the
    client leaving, not a failure to log with a traceback."""
    job = service.wait_for_job(service.train("binary_addition", log_every=1)["id"])
    logged = len(service.log())
    for _ in range(5):
        for message in stream(service, f"/jobs/{job['id']}/events"):
            if message.event == "metric":
                break  # closes the connection with thousands of points still to send
    wait_for_stats(service, lambda s: s["subscribers"] == 0)
    time.sleep(0.2)  # the server notices the last disconnect
    since = service.log()[logged:]
    assert "Traceback" not in since and "failed" not in since, since[-3000:]


def test_a_stored_point_reaches_a_connected_client_within_half_a_second(service_factory) -> None:
    live = service_factory()
    job = live.train("next_word", **LONG_JOB)
    live.wait_for_job(job["id"], until=("running",))
    database = sqlite3.connect(live.data_dir / "rnnlab.db", timeout=30, isolation_level=None)
    delays: list[float] = []
    worker_delays: list[float] = []
    with live.client.stream("GET", f"/jobs/{job['id']}/events", timeout=30) as response:
        lines = messages(response.iter_lines())
        for message in lines:
            if message.event == "metric":
                break  # connected and caught up
        for probe in range(5):
            # Stored as the worker stores a point: one committed insert.
            database.execute(
                "INSERT INTO metrics (job_id, name, step, value, timestamp) VALUES (?, ?, ?, ?, ?)",
                (job["id"], "probe", probe, 0.5, datetime.now(UTC).isoformat(" ")),
            )
            stored = time.monotonic()
            for message in lines:
                if message.event == "metric" and message.json["name"] != "probe":
                    logged = datetime.fromisoformat(message.json["timestamp"])
                    worker_delays.append((datetime.now(UTC) - logged).total_seconds())
                if message.event == "metric" and message.json["name"] == "probe":
                    assert message.json["step"] == probe
                    delays.append(time.monotonic() - stored)
                    break
    database.close()
    live.client.post(f"/jobs/{job['id']}/cancel")
    assert statistics.median(delays) < 0.5, delays
    # A worker's points: buffered up to 0.5 s before it writes them (FLUSH_SECONDS), then streamed.
    assert not worker_delays or statistics.median(worker_delays) < 1.0, worker_delays


def test_all_jobs_stream_follows_a_job_and_keeps_alive(backend) -> None:
    live = backend(events_keepalive_seconds="0.3")
    seen: list[Message] = []
    job_id = None
    for message in stream(live, "/events"):
        seen.append(message)
        if job_id is None:
            job_id = live.train("binary_addition")["id"]
        finished = [m for m in seen if m.event == "status" and m.json["status"] == "succeeded"]
        if finished and any("keep-alive" in m.comments for m in seen[seen.index(finished[0]) :]):
            break
    states = [m.json["status"] for m in seen if m.event == "status" and m.json["id"] == job_id]
    assert states[-1] == "succeeded" and states[0] in ("queued", "running")
    assert all(m.id and m.id.isdigit() for m in seen if m.event == "status")


UNKNOWN_EVENT_IDS = [
    ("/jobs/1/events", "yesterday"),
    ("/events", "yesterday"),
    # past the 32-bit row ids (PostgreSQL's INTEGER overflowed mid-stream)
    ("/jobs/1/events", "1.2147483648.0"),
    ("/jobs/1/events", "1.0.99999999999"),
    ("/events", "999999999999999"),  # past datetime's year 9999 (was a 500)
]


def test_an_unknown_last_event_id_is_a_422(backend) -> None:
    live = backend()
    live.wait_for_job(live.train("binary_addition")["id"])
    for path, last_event_id in UNKNOWN_EVENT_IDS:
        response = live.client.get(path, headers={"Last-Event-ID": last_event_id})
        assert response.status_code == 422, (path, last_event_id, response.text)
        assert "Last-Event-ID" in response.text  # the 422 names the header
    assert "Traceback" not in live.log()


def test_events_of_an_unknown_job_is_a_404(service: LiveService) -> None:
    response = service.client.get("/jobs/987654/events")
    assert response.status_code == 404
    assert "987654" in response.json()["detail"]


def test_console_tells_when_a_job_starts_logs_and_ends(service: LiveService) -> None:
    job = service.wait_for_job(service.train("binary_addition", log_every=5)["id"])
    ended = f"job {job['id']} succeeded after"
    deadline = time.monotonic() + 10
    while ended not in service.log() and time.monotonic() < deadline:
        time.sleep(0.05)  # the worker tells the end once it is stored, a moment after
    log = service.log()
    assert f"job {job['id']} started: binary_addition" in log
    assert f"job {job['id']} step 5: loss=" in log
    assert ended in log
