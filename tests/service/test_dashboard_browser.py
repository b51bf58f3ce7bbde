"""The dashboard as a person uses it, in Debian's Chromium driven by Playwright: start a job from
the form, watch it finish and its curve draw, read the views that teach (the sums, each bit's
accuracy, the gradient heat map), ask for a sum, start another job, watch its generated text
and heat map grow, and cancel it. Screenshots are kept in var/test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import LiveService
from tests.service.browser import ARTIFACTS, chromium, expect

pytestmark = pytest.mark.slow


@pytest.fixture
def page(service_factory) -> Iterator[tuple[LiveService, object]]:
    live = service_factory()
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900}, base_url=live.base_url)
        page.set_default_timeout(60_000)
        yield live, page


def start_job(page, task: str, **fields: str) -> int:  # type: ignore[no-untyped-def]
    if page.input_value("#task") != task:  # choosing a task anew rebuilds its fields
        page.select_option("#task", task)
    for name, value in fields.items():
        page.fill(f"#hyperparams [name={name}]", value)
    page.click("#start")
    link = page.locator("#train-result a")
    expect(link).to_have_text(re.compile(r"job #\d+"))
    return int(link.inner_text().removeprefix("job #"))


def test_train_watch_predict_and_cancel_in_a_browser(page) -> None:  # type: ignore[no-untyped-def]
    live, page = page
    page.goto("/")
    # The form is built from /openapi.json: the defaults and bounds the API states.
    expect(page.locator("#hyperparams [name=binary_dim]")).to_have_value("8")
    assert page.get_attribute("#hyperparams [name=binary_dim]", "max") == "32"

    adder = start_job(page, "binary_addition", gradient_norms_every="10")
    row = page.locator(f'#jobs tr[data-job="{adder}"]')
    expect(row.locator(".percent")).to_have_text("100%")
    expect(row.locator(".status")).to_have_text("succeeded")
    expect(page.locator("#models tbody tr")).to_have_count(1)

    page.click("#predict-sum button")
    expect(page.locator("#sum-result")).to_contain_text("37 + 45 = 82")
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

    row.locator("a").click()
    loss = page.locator('svg.chart polyline[data-series="loss"]')
    expect(loss).to_have_count(1)
    assert int(loss.get_attribute("data-points")) > 3, "the loss curve has points"
    expect(page.locator("#status")).to_have_text("succeeded")
    # The views that teach: the notes' "a + b = predicted (true)", each bit, the heat map.
    expect(page.locator("#sums tr")).to_have_count(4)
    expect(page.locator("#sums tr").first).to_contain_text(re.compile(r"\d+ \+ \d+ = \d+ \(\d+\)"))
    expect(page.locator("#bits .bit")).to_have_count(8)
    expect(page.locator("#gradients")).to_be_visible()
    assert int(page.get_attribute("#gradients", "data-columns")) > 0
    expect(page.locator("#generated-view")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "job-binary-addition.png", full_page=True)
    page.locator(".teaching").screenshot(path=ARTIFACTS / "job-binary-addition-teaching.png")

    page.goto("/")
    # A group of settings is a box to tick: its fields wait, disabled, until it is ticked.
    page.select_option("#task", "next_word")
    group = page.locator("#hyperparams fieldset[data-group=early_stopping]")
    patience = group.locator("[name='early_stopping.patience']")
    expect(patience).to_be_disabled()
    group.locator("legend input").check()
    patience.fill("500")
    words = start_job(
        page,
        "next_word",
        epochs="10000",
        hidden_size="64",
        embedding_size="32",
        gradient_norms_every="5",
    )
    assert live.client.get(f"/jobs/{words}").json()["hyperparams"]["early_stopping"] == {
        "metric": "validation_loss",
        "patience": 500,
        "min_delta": 0.0,
    }
    page.click("#train-result a")
    expect(page.locator("#status")).to_have_text("running")
    curve = page.locator('svg.chart polyline[data-series="loss"]')
    expect(curve).to_have_count(1)
    first = int(curve.get_attribute("data-points"))
    # The curve, the generated text and the heat map grow from the event stream.
    expect(curve).not_to_have_attribute("data-points", str(first))
    expect(page.locator("#generated li").nth(2)).to_contain_text("epoch 3:")
    columns = page.get_attribute("#gradients", "data-columns")
    expect(page.locator("#gradients")).not_to_have_attribute("data-columns", columns)
    expect(page.locator("#sums-view")).to_be_hidden()
    page.screenshot(path=ARTIFACTS / "job-next-word-running.png", full_page=True)
    page.click("#cancel")
    expect(page.locator("#status")).to_have_text("cancelled")
    expect(page.locator("#cancel")).to_be_disabled()
    assert live.client.get(f"/jobs/{words}").json()["status"] == "cancelled"
    page.screenshot(path=ARTIFACTS / "job-next-word-cancelled.png", full_page=True)
