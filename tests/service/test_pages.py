"""The dashboard's pages over HTTP, and that they need nothing but this service (offline)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO, LiveService

PAGES = REPO / "service" / "api"


def test_dashboard_lists_jobs_and_models(service: LiveService) -> None:
    job = service.wait_for_job(service.train("binary_addition")["id"])
    page = service.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-job="{job["id"]}"' in page.text
    assert f"#{job['model_id']}" in page.text
    assert 'id="train-form"' in page.text and 'id="predict-sum"' in page.text


def test_job_page_carries_its_points_and_stream_cursor(service: LiveService) -> None:
    job = service.wait_for_job(service.train("binary_addition")["id"])
    page = service.client.get(f"/jobs/{job['id']}/view")
    assert page.status_code == 200
    assert '"cursor": "0.' in page.text and '"loss": [[' in page.text
    missing = service.client.get("/jobs/987654/view")
    assert missing.status_code == 404 and "987654" in missing.json()["detail"]


def test_static_files_are_served(service: LiveService) -> None:
    for name in ("common.js", "dashboard.js", "job.js", "chart.js", "rnnlab.css"):
        assert service.client.get(f"/static/{name}").status_code == 200, name


def test_pages_load_nothing_from_elsewhere() -> None:
    allowed = {"http://www.w3.org/2000/svg"}  # a namespace name, never fetched
    for path in [*Path(PAGES / "templates").iterdir(), *Path(PAGES / "static").iterdir()]:
        urls = set(re.findall(r"https?://[^\s\"'`)]+", path.read_text())) - allowed
        assert not urls, f"{path.name} refers to {urls}: the dashboard must work offline"


def test_pages_stay_out_of_the_api_schema(service: LiveService) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/jobs/{job_id}/view" not in paths
