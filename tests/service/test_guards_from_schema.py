"""The API key guards every route, as the published schema lists them: a route added tomorrow is
checked the day it is added, with no test to write. Against live services with RNNLAB_API_KEY:
- every write (POST, PUT, PATCH, DELETE) refuses no key and a wrong key (401) and accepts the
  right one (anything but 401 and 403: a 404, 409 or 422 after the key counts as accepted);
- every read is open, and with RNNLAB_PROTECT_READS is guarded as the writes are;
- liveness, readiness and the documentation stay open either way;
- the pages for people (left out of the schema), found by following the dashboard's links, are
  guarded as reads are; their scripts and styles hold no data and stay open.
Which routes stay open is this file's list, never the schema's: a router that lost its guard
also loses the 401 its operations document."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import LiveService, start_service

KEY = "guard-key-7"
OPEN_OPERATIONS = {("GET", "/healthz"), ("GET", "/readyz")}
OPEN_PAGES = ("/docs", "/redoc", "/openapi.json")
ASSET_PREFIXES = ("/static/", "/docs/assets/")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
REFUSALS = {
    "no key": {},
    "wrong X-API-Key": {"X-API-Key": KEY + "x"},
    "wrong bearer": {"Authorization": f"Bearer {KEY[:-1]}"},
}
RIGHT = {"X-API-Key": KEY}
# Writes run last, deletions at the very end: the reads still find what they name.
METHOD_ORDER = {"GET": 0, "HEAD": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}
TINY_JOB = {
    "task": "binary_addition",
    "hyperparams": {"binary_dim": 4, "iterations": 20, "gradient_norms_every": None},
}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveService]]:
    """A service guarding writes and one guarding reads too, each with a trained job."""
    started = {
        "writes guarded": start_service(Path(tmp_path_factory.mktemp("keyed")), api_key=KEY),
        "reads guarded": start_service(
            Path(tmp_path_factory.mktemp("keyed-reads")), api_key=KEY, protect_reads="true"
        ),
    }
    try:
        for live in started.values():
            answer = live.client.post("/train", json=TINY_JOB, headers=RIGHT)
            assert answer.status_code == 202, answer.text
            JOB_IDS[live.base_url] = answer.json()["id"]
            live.client.headers.update(RIGHT)  # wait_for_job reads with the key
            live.wait_for_job(answer.json()["id"])
            del live.client.headers["X-API-Key"]
        yield started
    finally:
        for live in started.values():
            live.stop()


JOB_IDS: dict[str, int] = {}  # by service: the job trained there


def real_ids(live: LiveService) -> dict[str, str]:
    """Path parameters by name: the trained job, its model and corpus; any integer else."""
    job = live.client.get(f"/jobs/{JOB_IDS[live.base_url]}", headers=RIGHT).json()
    assert job["model_id"] is not None, job
    return {"job_id": str(job["id"]), "model_id": str(job["model_id"]), "corpus_id": "1"}


def operations(live: LiveService) -> list[tuple[str, str]]:
    """(method, concrete path) of every operation of the live service's schema."""
    schema = live.client.get("/openapi.json").json()
    ids = real_ids(live)
    found = []
    for template, item in schema["paths"].items():
        for method, operation in item.items():
            if method.upper() not in METHOD_ORDER:
                continue
            path = template
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if parameter["in"] == "path":
                    value = ids.get(name, "7" if name.endswith("id") else "champion")
                    path = path.replace("{" + name + "}", value)
                elif parameter["in"] == "query" and parameter.get("required"):
                    kind = parameter.get("schema", {}).get("type", "string")
                    path += ("&" if "?" in path else "?") + f"{name}={ids['job_id']}"
                    assert kind in ("string", "integer", "array"), (template, name, kind)
            found.append((method.upper(), path, template))
    found.sort(key=lambda op: METHOD_ORDER[op[0]])
    return [(method, path) for method, path, _ in found]


def status_of(live: LiveService, method: str, path: str, headers: dict[str, str]) -> int:
    """The status line only: event streams never end, and nothing here needs a body."""
    with live.client.stream(method, path, headers=headers) as response:
        return response.status_code


def check(live: LiveService, method: str, path: str, guarded: bool) -> list[str]:
    """What is wrong with this route's guard (nothing: an empty list)."""
    wrong = []
    if guarded:
        for refusal, headers in REFUSALS.items():
            code = status_of(live, method, path, headers)
            if code != 401:
                wrong.append(f"{method} {path} with {refusal}: {code}, not 401")
        code = status_of(live, method, path, RIGHT)
        if code in (401, 403):
            wrong.append(f"{method} {path} refused the right key: {code}")
    else:
        code = status_of(live, method, path, {})
        if code in (401, 403):
            wrong.append(f"{method} {path} is to stay open: {code} without a key")
    return wrong


@pytest.mark.parametrize("kind", ["writes guarded", "reads guarded"])
def test_every_operation_of_the_schema_is_guarded_as_promised(
    services: dict[str, LiveService], kind: str
) -> None:
    live = services[kind]
    found = operations(live)
    assert len(found) > 20 and any(method in WRITES for method, _ in found)
    wrong = []
    for method, path in found:
        route = (method, urlsplit(path).path)
        is_open = route in OPEN_OPERATIONS
        is_write = method in WRITES
        guarded = not is_open and (is_write or kind == "reads guarded")
        wrong += check(live, method, path, guarded)
    assert wrong == [], "\n".join(wrong)


def linked_paths(live: LiveService, html: str) -> set[str]:
    """The paths of this service a page links to or loads (href and src)."""
    paths = set()
    for link in re.findall(r'(?:href|src)="([^"]+)"', html):
        parts = urlsplit(link)
        if (
            parts.netloc
            and link.rstrip("/") != live.base_url
            and not link.startswith(live.base_url)
        ):
            continue  # another site
        if parts.path.startswith("/"):
            paths.add(parts.path)
    return paths


def crawl(live: LiveService) -> set[str]:
    """Every path reachable from the dashboard, following the links of its HTML pages."""
    seen: set[str] = set()
    todo = ["/"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.startswith(ASSET_PREFIXES) or path in OPEN_PAGES:
            continue
        with live.client.stream("GET", path, headers=RIGHT) as response:
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            response.read()
            todo += sorted(linked_paths(live, response.text) - seen)
    return seen


@pytest.mark.parametrize("kind", ["writes guarded", "reads guarded"])
def test_every_page_and_file_the_dashboard_links_is_guarded_as_reads_are(
    services: dict[str, LiveService], kind: str
) -> None:
    live = services[kind]
    found = crawl(live)
    job_id = real_ids(live)["job_id"]
    assert {"/", f"/jobs/{job_id}/view"} <= found, found  # the pages themselves were reached
    assert any(path.startswith("/static/") for path in found), found
    wrong = []
    for path in sorted(found):
        if path.startswith(ASSET_PREFIXES) or path in OPEN_PAGES:
            code = status_of(live, "GET", path, {})
            if code != 200:
                wrong.append(f"GET {path} (no data: to stay open) answered {code}")
            continue
        wrong += check(live, "GET", path, guarded=kind == "reads guarded")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.parametrize("kind", ["writes guarded", "reads guarded"])
def test_health_readiness_and_the_documentation_stay_open(
    services: dict[str, LiveService], kind: str
) -> None:
    live = services[kind]
    for path in ("/healthz", "/readyz", *OPEN_PAGES):
        response = live.client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
    docs = live.client.get("/docs").text
    assets = [path for path in linked_paths(live, docs) if path.startswith("/docs/assets/")]
    assert assets
    for path in assets:
        assert live.client.get(path).status_code == 200, path
