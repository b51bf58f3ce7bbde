"""A job's teaching records over real HTTP: GET /jobs/{id}/records page by page and by kind, the
gradient heat map as SVG and PNG, and every bad request refused with a 4xx that says why."""

from __future__ import annotations

import pytest

from tests.conftest import LiveService


def all_records(live: LiveService, job_id: int, **query) -> list[dict]:
    records, since = [], 0
    while True:
        page = live.client.get(f"/jobs/{job_id}/records", params={**query, "since_id": since})
        assert page.status_code == 200, page.text
        body = page.json()
        records += body["records"]
        if body["next_since_id"] is None:
            return records
        since = body["next_since_id"]


@pytest.fixture(scope="module")
def addition_job(service: LiveService) -> dict:
    job = service.train(
        "binary_addition", log_every=5, gradient_norms_every=5, stop_at_accuracy=1.0,
        iterations=200,
    )  # fmt: skip
    return service.wait_for_job(job["id"])


def test_binary_addition_records_sums_bits_and_gradients(service, addition_job) -> None:
    records = all_records(service, addition_job["id"], limit=7)
    kinds = {r["kind"] for r in records}
    assert kinds == {"sums", "bit_accuracy", "gradient_norms"}
    ids = [r["id"] for r in records]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    metrics = service.client.get(f"/jobs/{addition_job['id']}/metrics").json()["metrics"]
    log_steps = [m["step"] for m in metrics if m["name"] == "loss"]
    assert [r["step"] for r in records if r["kind"] == "sums"] == log_steps
    assert [r["step"] for r in records if r["kind"] == "bit_accuracy"] == log_steps
    last = [r for r in records if r["kind"] == "sums"][-1]["payload"]["sums"]
    for s in last:  # a trained net adds them right, and says so as the notes print it
        assert s["a"] + s["b"] == s["true"] == int(s["true_bits"], 2)
        assert s["predicted"] == int(s["predicted_bits"], 2)
    # the last answers are those of the saved model
    for s in last:
        answer = service.client.get("/predict", params={"a": s["a"], "b": s["b"]}).json()
        assert answer["sum"] == s["predicted"]
    bits = next(r for r in records if r["kind"] == "bit_accuracy")["payload"]
    assert len(bits["accuracy"]) == 8 and bits["samples"] == 5 * 64
    traced = [r for r in records if r["kind"] == "gradient_norms"]
    assert [r["step"] for r in traced] == list(range(5, log_steps[-1] + 1, 5))
    norms = [r["payload"]["norms"] for r in traced]
    assert all(len(n) == 8 for n in norms)

    only = all_records(service, addition_job["id"], kind="gradient_norms")
    assert [r["payload"]["norms"] for r in only] == norms


def test_the_gradient_heat_map(service, addition_job) -> None:
    svg = service.client.get(f"/jobs/{addition_job['id']}/gradients.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content and b"no gradient norms yet" not in svg.content
    png = service.client.get(f"/jobs/{addition_job['id']}/gradients.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_a_job_without_gradient_records_draws_a_message(service) -> None:
    job = service.train("binary_addition", iterations=20, gradient_norms_every=None)
    service.wait_for_job(job["id"])
    assert all_records(service, job["id"], kind="gradient_norms") == []
    svg = service.client.get(f"/jobs/{job['id']}/gradients.svg")
    assert svg.status_code == 200 and b"no gradient norms yet" in svg.content


def test_next_word_records_text_at_each_epoch_end(service) -> None:
    job = service.train("next_word", epochs=2, hidden_size=16, embedding_size=8)
    service.wait_for_job(job["id"])
    generated = all_records(service, job["id"], kind="generated")
    assert [r["payload"]["epoch"] for r in generated] == [1, 2]
    for record in generated:
        words = record["payload"]["text"].split(" ")
        assert len(words) == 12 and not any(w.startswith("#") for w in words)
        assert record["payload"]["prompt"] == generated[0]["payload"]["prompt"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"kind": "loss"}, "kind"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"since_id": -1}, "since_id"),
        ({"since_id": "x"}, "since_id"),
    ],
)
def test_bad_queries_are_422s_that_name_the_parameter(service, addition_job, query, named):
    response = service.client.get(f"/jobs/{addition_job['id']}/records", params=query)
    assert response.status_code == 422
    assert any(error["loc"][-1] == named for error in response.json()["detail"])


@pytest.mark.parametrize(
    "path", ["/jobs/987654/records", "/jobs/987654/gradients.svg", "/jobs/987654/gradients.png"]
)
def test_an_unknown_job_is_a_404(service, path) -> None:
    response = service.client.get(path)
    assert response.status_code == 404
    assert "987654" in response.json()["detail"]
