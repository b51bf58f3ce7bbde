"""Metrics for charts (incremental, downsampled keeping each range's extremes), plots, and the
elapsed time and ETA of jobs."""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime

import pytest

from tests.conftest import LiveService

SERIES = 100_000


@pytest.fixture(scope="module")
def long_series(service: LiveService) -> dict:
    """A finished job with a 100,000-point `probe` series stored beside its own metrics: a
    sine with one spike up and one down, which any every-n-th-point sampling would drop."""
    job = service.wait_for_job(service.train("binary_addition")["id"])
    now = datetime.now(UTC).isoformat(" ")
    rows = [(job["id"], "probe", step, math.sin(step / 5000), now) for step in range(SERIES)]
    rows[31_337] = (job["id"], "probe", 31_337, 25.0, now)
    rows[77_777] = (job["id"], "probe", 77_777, -25.0, now)
    with sqlite3.connect(service.data_dir / "rnnlab.db", timeout=30) as database:
        database.executemany(
            "INSERT INTO metrics (job_id, name, step, value, timestamp) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    return job


def test_downsampling_keeps_extremes_ends_and_bounds(service: LiveService, long_series) -> None:
    url = f"/jobs/{long_series['id']}/metrics"
    body = service.client.get(url, params={"name": "probe", "max_points": 300}).json()
    points = body["metrics"]
    assert body["downsampled"] is True
    assert 200 <= len(points) <= 300
    steps = [p["step"] for p in points]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == SERIES - 1
    values = {p["step"]: p["value"] for p in points}
    assert values[31_337] == 25.0 and values[77_777] == -25.0, "the spikes survive"
    assert max(values.values()) == 25.0 and min(values.values()) == -25.0
    assert body["last_step"] == SERIES - 1


def test_short_series_come_whole_and_reads_are_incremental(
    service: LiveService, long_series
) -> None:
    url = f"/jobs/{long_series['id']}/metrics"
    everything = service.client.get(url, params={"name": "loss"}).json()["metrics"]
    sampled = service.client.get(url, params={"name": "loss", "max_points": 10_000}).json()
    assert sampled["metrics"] == everything and sampled["downsampled"] is False
    middle = everything[len(everything) // 2]["step"]
    later = service.client.get(url, params={"name": "loss", "since_step": middle}).json()
    assert later["metrics"] == [p for p in everything if p["step"] > middle]
    both = service.client.get(url, params={"since_step": SERIES - 3, "max_points": 10}).json()
    assert [(p["name"], p["step"]) for p in both["metrics"]] == [
        ("probe", SERIES - 2),
        ("probe", SERIES - 1),
    ]
    nothing = service.client.get(url, params={"since_step": SERIES}).json()
    assert nothing["metrics"] == [] and nothing["last_step"] == SERIES


@pytest.mark.parametrize(
    "params", [{"max_points": 9}, {"max_points": 10_001}, {"since_step": -1}, {"max_points": "a"}]
)
def test_metrics_bounds_are_422(service: LiveService, long_series, params: dict) -> None:
    response = service.client.get(f"/jobs/{long_series['id']}/metrics", params=params)
    assert response.status_code == 422
    assert next(iter(params)) in response.text


def test_metrics_bounds_are_in_the_schema(service: LiveService) -> None:
    schema = service.client.get("/openapi.json").json()
    parameters = schema["paths"]["/jobs/{job_id}/metrics"]["get"]["parameters"]
    max_points = next(p for p in parameters if p["name"] == "max_points")["schema"]["anyOf"][0]
    assert (max_points["minimum"], max_points["maximum"]) == (10, 10_000)


def test_jobs_show_elapsed_and_eta(service: LiveService) -> None:
    job = service.wait_for_job(service.train("binary_addition")["id"])
    assert job["elapsed_seconds"] > 0 and job["eta_seconds"] == 0
    listed = service.client.get("/jobs").json()["jobs"][0]
    assert "elapsed_seconds" in listed and "eta_seconds" in listed


def test_a_job_plot_is_titled_with_its_hyperparameters(service: LiveService) -> None:
    job = service.wait_for_job(service.train("binary_addition", hidden_size=12)["id"])
    svg = service.client.get(f"/jobs/{job['id']}/plot.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert "<svg" in svg.text and "hidden_size=12" in svg.text and "succeeded" in svg.text
    assert ">loss<" in svg.text or "loss" in svg.text
    png = service.client.get(f"/jobs/{job['id']}/plot.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")


def test_a_running_job_is_plotted_so_far(service_factory) -> None:
    live = service_factory()
    job = live.train("next_word", epochs=10_000, hidden_size=64, embedding_size=32)
    while not live.client.get(f"/jobs/{job['id']}/metrics", params={"name": "loss"}).json()[
        "metrics"
    ]:
        pass
    svg = live.client.get(f"/jobs/{job['id']}/plot.svg").text
    assert "running" in svg and "so far" in svg
    live.client.post(f"/jobs/{job['id']}/cancel")


def test_compare_overlays_runs(service: LiveService) -> None:
    ids = [
        service.wait_for_job(service.train("binary_addition", learning_rate=rate)["id"])["id"]
        for rate in (0.05, 0.02)
    ]
    response = service.client.get("/plots/compare.svg", params={"jobs": ",".join(map(str, ids))})
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
    for job_id in ids:
        assert f"job {job_id} learning_rate=" in response.text


@pytest.mark.parametrize(
    ("jobs", "status", "says"),
    [
        ("1,x", 422, '"loc":["query","jobs"]'),
        ("", 422, "jobs"),
        (",".join(str(i) for i in range(1, 14)), 422, "at most 12"),
        ("1,2147483648", 422, "1..2147483647"),
        ("1,987654", 404, "no job 987654"),
    ],
)
def test_compare_refuses_bad_ids(service: LiveService, jobs: str, status: int, says: str) -> None:
    service.wait_for_job(service.train("binary_addition")["id"])
    response = service.client.get("/plots/compare.svg", params={"jobs": jobs})
    assert response.status_code == status
    assert says in response.text


@pytest.mark.parametrize("path", ["/jobs/987654/plot.svg", "/jobs/987654/plot.png"])
def test_plot_of_an_unknown_job_is_a_404(service: LiveService, path: str) -> None:
    response = service.client.get(path)
    assert response.status_code == 404 and "987654" in response.json()["detail"]
