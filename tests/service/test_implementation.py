"""`"implementation": "reference"` trains a job on the textbook layers through the service: it
succeeds, is served like any model, and its loss curve is the fast layers' to float tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import LiveService

SHORT_JOBS = {
    "binary_addition": {"iterations": 50, "log_every": 5, "cell": "lstm"},
    "next_word": {
        "epochs": 1,
        "hidden_size": 16,
        "embedding_size": 8,
        "seq_len": 5,
        "batch_size": 8,
        "log_every": 2,
    },
}
QUERIES = {"binary_addition": {"a": 3, "b": 4}, "next_word": {"text": "the cat"}}


def _losses(service: LiveService, job_id: int) -> list[tuple[int, float]]:
    metrics = service.client.get(f"/jobs/{job_id}/metrics", params={"name": "loss"}).json()
    return [(m["step"], m["value"]) for m in metrics["metrics"]]


@pytest.mark.parametrize("task", sorted(SHORT_JOBS))
def test_a_reference_job_trains_the_fast_jobs_curve(service: LiveService, task: str) -> None:
    jobs = {
        implementation: service.train(task, implementation=implementation, **SHORT_JOBS[task])
        for implementation in ("fast", "reference")
    }
    done = {name: service.wait_for_job(job["id"], timeout=120) for name, job in jobs.items()}
    for job in done.values():
        assert job["status"] == "succeeded", job
    assert done["reference"]["hyperparams"]["implementation"] == "reference"
    fast, reference = (_losses(service, done[name]["id"]) for name in ("fast", "reference"))
    assert len(fast) >= 5 and [s for s, _ in reference] == [s for s, _ in fast]
    np.testing.assert_allclose([v for _, v in reference], [v for _, v in fast], rtol=1e-3)
    model = done["reference"]["model_id"]
    answer = service.client.get("/predict", params={**QUERIES[task], "model": model})
    assert answer.status_code == 200 and answer.json()["model_id"] == model


def test_an_unknown_implementation_is_refused_naming_the_choices(service: LiveService) -> None:
    response = service.client.post(
        "/train", json={"task": "next_word", "hyperparams": {"implementation": "textbook"}}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "implementation"
    assert "'fast' or 'reference'" in response.json()["detail"][0]["msg"]
