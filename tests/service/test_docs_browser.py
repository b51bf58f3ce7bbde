"""/docs and /redoc in a real browser with no network: headless Chromium may reach the service on
127.0.0.1 and nothing else, and must still render every operation of the OpenAPI schema.

Screenshots are kept in $RNNLAB_TEST_ARTIFACTS (default var/test-artifacts/); the browser is
tests/service/browser.py's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import LiveService
from tests.service.browser import ARTIFACTS, chromium

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium(offline=True) as browser:
        yield browser


@pytest.fixture
def offline_page(browser):
    """A page whose requests off this machine are aborted; `page.outside` lists them."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.outside = []
    page.errors = []

    def cut_off(route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", cut_off)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def operations(service: LiveService) -> list[tuple[str, str, str]]:
    """(METHOD, path, operationId) of every operation the schema publishes."""
    schema = service.client.get("/openapi.json").json()
    return sorted(
        (method.upper(), path, operation["operationId"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    )


def wait_until_rendered(page, selector: str, name: str) -> None:
    """Wait for `selector`; on a blank page, keep its screenshot and say what it tried."""
    try:
        page.wait_for_selector(selector, timeout=30_000)
    except Exception as error:
        shot = screenshot(page, f"{name}-failed.png")
        pytest.fail(
            f"{page.url} never showed {selector} ({error.__class__.__name__}); screenshot "
            f"{shot}; requests off this machine: {page.outside}; page errors: {page.errors}"
        )


def screenshot(page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def test_swagger_ui_shows_every_operation_offline(service: LiveService, offline_page) -> None:
    page = offline_page
    expected = operations(service)
    page.goto(f"{service.base_url}/docs")
    wait_until_rendered(page, ".opblock", "docs")
    shown = page.eval_on_selector_all(
        ".opblock-summary",
        """blocks => blocks.map(block => [
            block.querySelector('.opblock-summary-method').textContent.trim(),
            block.querySelector('.opblock-summary-path').dataset.path])""",
    )
    assert sorted(map(tuple, shown)) == [(method, path) for method, path, _ in expected]

    # Opened, an operation shows a real job as its example answer, not "string".
    block = page.locator("#operations-jobs-read_job_jobs__job_id__get")
    block.locator(".opblock-summary").click()
    example = block.locator(".responses-wrapper .microlight").first
    example.wait_for(timeout=10_000)
    assert '"status": "succeeded"' in example.text_content()
    assert '"string"' not in example.text_content()
    assert screenshot(page, "docs.png").stat().st_size > 10_000
    assert page.outside == [] and page.errors == []


def test_redoc_shows_every_operation_offline(service: LiveService, offline_page) -> None:
    page = offline_page
    expected = operations(service)
    page.goto(f"{service.base_url}/redoc")
    wait_until_rendered(page, "[data-section-id^='operation/']", "redoc")
    shown = page.eval_on_selector_all(
        "[data-section-id^='operation/']",
        "sections => sections.map(section => section.dataset.sectionId)",
    )
    assert sorted(shown) == sorted(f"operation/{operation_id}" for *_, operation_id in expected)
    # ReDoc's full page is ~14,000 pixels high: the first screen says enough.
    assert screenshot(page, "redoc.png", full_page=False).stat().st_size > 10_000
    assert page.outside == [] and page.errors == []
