"""Named and tagged runs, found again with validated filters (GET /jobs, GET /models)."""

from __future__ import annotations

import pytest

from tests.conftest import LiveService
from tests.service.live_databases import live, succeeded  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def runs(live: LiveService) -> dict:  # noqa: F811
    return {
        "small": succeeded(
            live, name="baseline", tags=["exp-1", "small"], hyperparams={"hidden_size": 4}
        ),
        "big": succeeded(live, name="wide", tags=["exp-1"], hyperparams={"hidden_size": 32}),
        "words": succeeded(live, "next_word", name="wide", tags=["words"]),
    }


def ids(answer: dict, key: str = "jobs") -> set[int]:
    return {row["id"] for row in answer[key]}


def test_a_job_keeps_its_name_and_tags(live: LiveService, runs: dict) -> None:  # noqa: F811
    job = live.client.get(f"/jobs/{runs['small']['id']}").json()
    assert job["name"] == "baseline"
    assert job["tags"] == ["exp-1", "small"]
    assert job["sweep_id"] is None
    model = live.client.get(f"/models/{job['model_id']}").json()
    assert (model["name"], model["tags"], model["aliases"]) == ("baseline", ["exp-1", "small"], [])


def test_jobs_filter_by_tag_name_status_and_task(live: LiveService, runs: dict) -> None:  # noqa: F811
    get = lambda **params: live.client.get("/jobs", params=params).json()  # noqa: E731
    small, big, words = (runs[k]["id"] for k in ("small", "big", "words"))
    assert ids(get(tag="exp-1")) == {small, big}
    assert ids(get(tag="small")) == {small}
    assert ids(get(name="wide")) == {big, words}
    assert ids(get(name="wide", task="next_word")) == {words}
    assert ids(get(tag="exp-1", status="succeeded", task="binary_addition")) == {small, big}
    assert get(tag="exp-1", status="failed") == {"jobs": [], "count": 0}
    assert get(tag="nothing-has-it")["count"] == 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"stauts": "failed"}, "unknown query parameter stauts"),
        ({"tag": "exp-1", "colour": "red"}, "unknown query parameter colour"),
        ({"status": "finished"}, "status"),
        ({"task": "chess"}, "task"),
        ({"tag": "has space"}, "tag"),
    ],
)
def test_a_bad_job_filter_is_a_422(live: LiveService, params: dict, message: str) -> None:  # noqa: F811
    response = live.client.get("/jobs", params=params)
    assert response.status_code == 422
    assert message in response.text


def test_models_sort_by_a_final_metric(live: LiveService, runs: dict) -> None:  # noqa: F811
    models = live.client.get("/models", params={"sort": "-test_perplexity"}).json()["models"]
    perplexities = [m["metrics"].get("test_perplexity") for m in models]
    present = [p for p in perplexities if p is not None]
    assert present and present == sorted(present, reverse=True)
    assert perplexities[: len(present)] == present  # models without it come last
    ascending = live.client.get("/models", params={"sort": "steps", "task": "binary_addition"})
    steps = [m["metrics"]["steps"] for m in ascending.json()["models"]]
    assert steps == sorted(steps)


def test_models_filter_by_the_job_s_name_and_tag(live: LiveService, runs: dict) -> None:  # noqa: F811
    get = lambda **params: live.client.get("/models", params=params).json()  # noqa: E731
    model = {k: runs[k]["model_id"] for k in runs}
    assert ids(get(tag="exp-1"), "models") == {model["small"], model["big"]}
    assert ids(get(name="wide", task="binary_addition"), "models") == {model["big"]}
    assert ids(get(tag="exp-1", sort="-final_accuracy", limit=1), "models") <= {
        model["small"],
        model["big"],
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "-perplexity"}, "unknown sort key '-perplexity'"),
        ({"sort": "name"}, "unknown sort key"),
        ({"order": "desc"}, "unknown query parameter order"),
        ({"task": "binary"}, "task"),
    ],
)
def test_a_bad_model_filter_or_sort_is_a_422(live: LiveService, params: dict, message: str) -> None:  # noqa: F811
    response = live.client.get("/models", params=params)
    assert response.status_code == 422
    assert message in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 201},
        {"tags": ["ok", "not ok"]},
        {"tags": "single-string"},
        {"tags": [f"t{i}" for i in range(21)]},
    ],
)
def test_bad_names_and_tags_are_refused(live: LiveService, body: dict) -> None:  # noqa: F811
    response = live.client.post("/train", json={"task": "binary_addition", **body})
    assert response.status_code == 422, response.text


def test_repeated_tags_are_kept_once(live: LiveService) -> None:  # noqa: F811
    response = live.client.post(
        "/train",
        json={"task": "binary_addition", "hyperparams": {"iterations": 5}, "tags": ["a", "b", "a"]},
    )
    assert response.status_code == 202
    assert response.json()["tags"] == ["a", "b"]
    live.wait_for_job(response.json()["id"])
