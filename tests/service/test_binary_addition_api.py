"""POST /train -> worker process -> model row -> GET /predict, over real HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import LiveService


@pytest.fixture(scope="module")
def trained(service: LiveService) -> dict:
    job = service.train("binary_addition")
    assert job["status"] == "queued"
    return service.wait_for_job(job["id"])


def test_default_job_succeeds_and_answers_37_plus_45(service: LiveService, trained: dict) -> None:
    assert trained["status"] == "succeeded", trained
    assert trained["progress"] == 1.0
    assert trained["started_at"] <= trained["finished_at"]
    answer = service.client.get("/predict", params={"a": 37, "b": 45}).json()
    assert answer["sum"] == 82
    assert answer["bits"] == [0, 1, 0, 1, 0, 0, 1, 0]
    assert len(answer["probabilities"]) == 8
    assert all(0 <= p <= 1 for p in answer["probabilities"])
    assert answer["model_id"] == trained["model_id"]


def test_every_pair_is_right(service: LiveService, trained: dict) -> None:
    model = service.client.get(f"/models/{trained['model_id']}").json()
    assert model["metrics"]["final_accuracy"] == 1.0
    assert model["task"] == "binary_addition"
    assert model["job_id"] == trained["id"]
    assert len(model["sha256"]) == 64
    # Spot-check the served model on pairs spread over the whole range (all of them are in
    # final_accuracy, computed in the worker over all 16,384 pairs).
    for a, b in [(0, 0), (127, 127), (1, 126), (64, 63), (100, 27), (5, 120)]:
        assert service.client.get("/predict", params={"a": a, "b": b}).json()["sum"] == a + b


def test_train_answers_202_with_location(service: LiveService) -> None:
    response = service.client.post("/train", json={"task": "binary_addition", "hyperparams": {}})
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert job["hyperparams"]["binary_dim"] == 8  # defaults are filled in and stored
    assert service.wait_for_job(job["id"])["status"] == "succeeded"


def test_metrics_are_logged_and_filtered(service: LiveService, trained: dict) -> None:
    metrics = service.client.get(f"/jobs/{trained['id']}/metrics").json()["metrics"]
    names = {m["name"] for m in metrics}
    assert {"loss", "accuracy"} <= names
    only_loss = service.client.get(f"/jobs/{trained['id']}/metrics", params={"name": "loss"}).json()
    assert only_loss["metrics"] and {m["name"] for m in only_loss["metrics"]} == {"loss"}
    steps = [m["step"] for m in only_loss["metrics"]]
    assert steps == sorted(set(steps))


def test_a_schedule_logs_the_learning_rate_it_trained_with(service: LiveService) -> None:
    hyperparams = {
        "hidden_size": 2,  # too small to stop early at 100%: every step runs
        "iterations": 300,
        "log_every": 50,
        "lr_schedule": "step",
        "lr_step_every": 100,
        "lr_factor": 0.5,
    }
    body = {"task": "binary_addition", "hyperparams": hyperparams}
    job = service.client.post("/train", json=body)
    assert service.wait_for_job(job.json()["id"])["status"] == "succeeded"
    answer = service.client.get(
        f"/jobs/{job.json()['id']}/metrics", params={"name": "learning_rate"}
    ).json()
    rates = [(m["step"], m["value"]) for m in answer["metrics"]]
    assert rates == [
        (50, 0.05), (100, 0.05), (150, 0.025), (200, 0.025), (250, 0.0125), (300, 0.0125)
    ]  # fmt: skip


def test_a_fixed_training_set_reports_its_held_out_test_set(service: LiveService) -> None:
    hyperparams = {"hidden_size": 2, "train_samples": 200, "batch_size": 10, "epochs": 2}
    body = {"task": "binary_addition", "hyperparams": hyperparams}
    job = service.wait_for_job(service.client.post("/train", json=body).json()["id"])
    assert job["status"] == "succeeded", job
    model = service.client.get(f"/models/{job['model_id']}").json()
    assert model["metrics"]["steps"] == 40  # 2 epochs of 20 batches
    assert 0 <= model["metrics"]["test_accuracy"] <= model["metrics"]["test_bit_accuracy"] <= 1
    series = service.client.get(
        f"/jobs/{job['id']}/metrics", params={"name": "test_bit_accuracy"}
    ).json()["metrics"]
    assert [m["step"] for m in series] == [20, 40]
    assert series[-1]["value"] == model["metrics"]["test_bit_accuracy"]


def test_lists_show_the_job_and_the_model(service: LiveService, trained: dict) -> None:
    jobs = service.client.get("/jobs").json()
    assert trained["id"] in [job["id"] for job in jobs["jobs"]]
    succeeded = service.client.get("/jobs", params={"status": "succeeded"}).json()["jobs"]
    assert all(job["status"] == "succeeded" for job in succeeded)
    models = service.client.get("/models", params={"task": "binary_addition"}).json()
    assert trained["model_id"] in [model["id"] for model in models["models"]]


def test_diverging_job_fails_with_the_reason(service: LiveService) -> None:
    job = service.train(
        "binary_addition",
        binary_dim=32,
        activation="relu",
        init="he",
        learning_rate=1.0,
        optimizer="sgd",
        hidden_size=64,
        iterations=200,
    )
    finished = service.wait_for_job(job["id"])
    assert finished["status"] == "failed"
    assert "lower the learning rate or set clip_norm" in finished["error"]
    assert finished["model_id"] is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a": -1, "b": 3}, "greater than or equal to 0"),
        ({"a": 3, "b": 128}, "0..127"),
        ({"a": "x", "b": 3}, "integer"),
        ({"a": 1.5, "b": 3}, "integer"),
        ({"a": 3}, "both a and b"),
        ({}, "both a and b"),
        ({"a": 1, "b": 2, "text": "hello"}, "not both"),
        ({"a": 1, "b": 2, "model": 999999}, "model 999999 does not exist"),
    ],
)
def test_bad_predict_queries_get_4xx_with_a_message(
    service: LiveService, trained: dict, params: dict, message: str
) -> None:
    response = service.client.get("/predict", params=params)
    assert 400 <= response.status_code < 500, response.text
    assert message in str(response.json()["detail"])


def test_predict_with_a_next_word_model_id_is_refused(service: LiveService) -> None:
    job = service.train("next_word", epochs=1)
    finished = service.wait_for_job(job["id"], timeout=120)
    assert finished["status"] == "succeeded", finished
    response = service.client.get(
        "/predict", params={"a": 1, "b": 2, "model": finished["model_id"]}
    )
    assert response.status_code == 422
    assert "next_word model" in response.json()["detail"]


def test_predict_before_any_training_says_to_train(service_factory) -> None:
    fresh = service_factory()
    response = fresh.client.get("/predict", params={"a": 1, "b": 2})
    assert response.status_code == 404
    assert "POST /train" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"task": "binary_addition", "hyperparams": {"binary_dimm": 8}}, "binary_dimm"),
        ({"task": "binary_addition", "hyperparams": {"binary_dim": 33}}, "32"),
        ({"task": "binary_addition", "hyperparams": {"activation": "gelu"}}, "sigmoid"),
        ({"task": "binary_addition", "hyperparams": {"optimizer": "lion"}}, "adam"),
        ({"task": "binary_addition", "hyperparams": {"learning_rate": -1}}, "greater than 0"),
        ({"task": "binary_addition", "hyperparams": {"lr_schedule": "exp"}}, "plateau"),
        ({"task": "binary_addition", "hyperparams": {"lr_factor": 1}}, "less than 1"),
        ({"task": "addition"}, "binary_addition"),
        ({"hyperparams": {}}, "task"),
    ],
)
def test_bad_train_requests_get_422_naming_the_problem(
    service: LiveService, body: dict, message: str
) -> None:
    before = service.client.get("/jobs").json()["count"]
    response = service.client.post("/train", json=body)
    assert response.status_code == 422
    assert message in response.text
    assert service.client.get("/jobs").json()["count"] == before  # nothing was queued


def test_unknown_ids_get_404(service: LiveService) -> None:
    for path in ("/jobs/424242", "/jobs/424242/metrics", "/models/424242"):
        response = service.client.get(path)
        assert response.status_code == 404
        assert "does not exist" in response.json()["detail"]
    assert service.client.post("/jobs/424242/cancel").status_code == 404


def test_the_next_request_after_success_gets_the_new_model(service_factory) -> None:
    """/predict caches which model is newest (PRAGMA data_version): it is never stale."""
    live = service_factory()
    for seed in range(3):
        job = live.wait_for_job(live.train("binary_addition", seed=seed)["id"])
        assert job["status"] == "succeeded"
        answer = live.client.get("/predict", params={"a": 37, "b": 45}).json()
        assert answer["model_id"] == job["model_id"] and answer["sum"] == 82
