"""A task the service has never heard of, kept in the test suite (tests/service/toy_parity.py),
is named in RNNLAB_TASK_MODULES and then trained, predicted, swept and plotted through the API of
a real `rnnlab serve` with its worker processes: nothing in service/ knows it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveService, start_service

TOY = "tests.service.toy_parity"
TASK = "toy_parity"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    service = start_service(
        Path(tmp_path_factory.mktemp("toy")), task_modules=TOY, max_concurrent_jobs="2"
    )
    yield service
    service.stop()


@pytest.fixture(scope="module")
def trained(live: LiveService) -> dict:
    job = live.wait_for_job(live.train(TASK, seed=3)["id"], timeout=120)
    assert job["status"] == "succeeded", job
    return job


def test_the_task_is_listed_with_its_hyperparameters(live: LiveService) -> None:
    schemas = live.client.get("/openapi.json").json()["components"]["schemas"]
    hyperparams = schemas["ToyParityHyperparams"]["properties"]
    assert hyperparams["bits"]["maximum"] == 10
    unknown = live.client.post("/train", json={"task": TASK, "hyperparams": {"binary_dim": 4}})
    assert unknown.status_code == 422


def test_it_trains_in_a_worker_and_keeps_its_final_metrics(live: LiveService, trained) -> None:
    model = live.client.get(f"/models/{trained['model_id']}").json()
    assert model["task"] == TASK
    assert set(model["metrics"]) >= {"final_loss", "final_accuracy"}
    points = live.client.get(f"/jobs/{trained['id']}/metrics").json()
    assert "loss" in str(points) and "accuracy" in str(points)


def test_it_answers_predict_by_its_own_query(live: LiveService, trained) -> None:
    for bits in ("0110", "111", "1"):
        response = live.client.get("/predict", params={"bits": bits, "model": trained["model_id"]})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["model_id"] == trained["model_id"]
        assert answer["model_selected_by"] == "id"
        assert answer["parity"] in (0, 1) and 0 <= answer["probability"] <= 1
    newest = live.client.get("/predict", params={"bits": "0110"}).json()
    assert newest["model_selected_by"] == "newest"
    bad = live.client.get("/predict", params={"bits": "012"})
    assert bad.status_code == 422
    both = live.client.get("/predict", params={"bits": "01", "a": 1, "b": 2})
    assert both.status_code == 422 and "not both" in both.json()["detail"]


def test_a_model_of_another_task_is_refused(live: LiveService, trained) -> None:
    response = live.client.get("/predict", params={"a": 1, "b": 2, "model": trained["model_id"]})
    assert response.status_code == 422
    assert "toy_parity model" in response.json()["detail"]


def test_it_is_plotted(live: LiveService, trained) -> None:
    svg = live.client.get(f"/jobs/{trained['id']}/plot.svg")
    assert svg.status_code == 200 and svg.text.lstrip().startswith(("<?xml", "<svg"))


def test_it_is_swept_ranked_by_its_own_metric_and_plotted(live: LiveService) -> None:
    body = {"task": TASK, "hyperparams": {"iterations": 200}, "grid": {"hidden_size": [2, 8]}}
    response = live.client.post("/sweeps", json={**body, "seeds": [0, 1]})
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]
    deadline = time.monotonic() + 240
    while (sweep := live.client.get(f"/sweeps/{sweep_id}").json())["status"] != "finished":
        assert time.monotonic() < deadline, sweep
        time.sleep(0.2)
    assert sweep["ranked_by"] == "final_accuracy" and sweep["order"] == "descending"
    assert [entry["cell"] for entry in sweep["ranking"]] != []
    means = [entry["mean"] for entry in sweep["ranking"]]
    assert means == sorted(means, reverse=True)
    plot = live.client.get(f"/sweeps/{sweep_id}/plot.svg", params={"metric": "accuracy"})
    assert plot.status_code == 200 and "svg" in plot.text[:200]
    unknown = live.client.get(f"/sweeps/{sweep_id}", params={"metric": "test_perplexity"})
    assert unknown.status_code == 422 and "final_accuracy" in unknown.json()["detail"]
