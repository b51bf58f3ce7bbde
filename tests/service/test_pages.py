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


def own_urls(page: str) -> list[str]:
    """Every URL a page names in an href or src attribute."""
    return re.findall(r'(?:href|src)="([^"]*)"', page)


def test_pages_name_their_own_urls_by_path(service: LiveService) -> None:
    """Never an absolute URL made from the request's Host: behind a TLS proxy that is plain
    http, which a browser refuses to load into an https page (mixed content)."""
    job = service.wait_for_job(service.train("binary_addition", iterations=20)["id"])
    for path in ("/", f"/jobs/{job['id']}/view"):
        page = service.client.get(path, headers={"Host": "public.example"}).text
        urls = own_urls(page)
        assert "/static/rnnlab.css" in urls and "/static/common.js" in urls
        assert all(url.startswith("/") for url in urls), urls


def test_behind_a_proxy_pages_name_their_urls_under_its_root_path(service_factory) -> None:
    """RNNLAB_ROOT_PATH: a proxy serves the service under /lab and strips it; every URL a page
    names, and every one its scripts make (ROOT_PATH), starts with /lab."""
    live = service_factory(root_path="/lab")
    job = live.wait_for_job(live.train("binary_addition", iterations=20)["id"])
    for path in ("/", f"/jobs/{job['id']}/view"):
        page = live.client.get(path)
        assert page.status_code == 200
        urls = own_urls(page.text)
        assert "/lab/static/common.js" in urls
        assert all(url.startswith("/lab/") for url in urls), urls
        assert 'data-root="/lab"' in page.text
    dashboard = own_urls(live.client.get("/").text)
    assert f"/lab/jobs/{job['id']}/view" in dashboard
    assert live.client.get("/static/common.js").status_code == 200  # as the proxy asks for it
    docs = live.client.get("/docs").text
    assert "/lab/openapi.json" in docs
