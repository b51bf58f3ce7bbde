"""A feed's read as its followers get it (service/tracking/wire.py `Shared`): encoded once for
all the followers at the same place in the stream, and for a follower elsewhere exactly the
bytes its own view makes of it."""

from __future__ import annotations

from datetime import UTC, datetime

from rnnlab.service.store.tables import JobStatus
from rnnlab.service.tracking.reads import Cursor, JobState, MetricPoint, Update
from rnnlab.service.tracking.streams import JobsView, JobView
from rnnlab.service.tracking.wire import Shared, encode_all

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def state(progress: float, status: str = JobStatus.RUNNING, job_id: int = 1) -> JobState:
    """Not started by the clock (its elapsed time would differ between two encodings)."""
    return JobState(job_id, "a-task", status, progress, 1, False, None, None, None, None)


def points(first: int, last: int) -> tuple[MetricPoint, ...]:
    return tuple(MetricPoint(i, "loss", i, 1.0 / i, NOW) for i in range(first, last + 1))


def test_followers_at_one_place_share_one_encoding_and_move_on_alike() -> None:
    followers = [JobView(1, Cursor(6, 10, 0)) for _ in range(50)]
    for view in followers:
        view.progress = 0.1
    shared = Shared(Update(state(0.2), points(11, 20)))
    alone = JobView(1, Cursor(6, 10, 0))
    alone.progress = 0.1
    expected = encode_all(alone.events(shared.item))

    frames = [shared.frame(view) for view in followers]

    assert frames[0] == expected
    assert all(frame is frames[0] for frame in frames), "encoded once, not once per follower"
    assert {view.place(shared.item) for view in followers} == {alone.place(shared.item)}


def test_a_follower_elsewhere_gets_what_its_own_view_makes() -> None:
    """One that connected later and read past some of the points already: only the rest."""
    update = Update(state(0.2), points(11, 20))
    shared = Shared(update)
    caught_up = JobView(1, Cursor(6, 10, 0))
    shared.frame(caught_up)
    ahead = JobView(1, Cursor(6, 15, 0))
    ahead.progress = 0.2
    mirror = JobView(1, Cursor(6, 15, 0))
    mirror.progress = 0.2

    assert shared.frame(ahead) == encode_all(mirror.events(update))
    assert b'"step": 15' not in shared.frame(JobView(1, Cursor(6, 15, 0)))
    assert ahead.place(update) == mirror.place(update)


def test_the_all_jobs_followers_share_by_what_they_were_sent_of_those_jobs() -> None:
    changed = (state(0.5, job_id=1), state(0.2, job_id=2))
    shared = Shared(changed)
    fresh = [JobsView() for _ in range(10)]
    frames = [shared.frame(view) for view in fresh]
    assert all(frame is frames[0] for frame in frames)
    assert frames[0].count(b"event: status") == 2
    assert all(view.sent == fresh[0].sent for view in fresh)

    seen_one = JobsView()
    seen_one.sent[1] = (state(0.5).version, 0.5)
    assert shared.frame(seen_one).count(b"event: status") == 1, "job 1 was sent already"
