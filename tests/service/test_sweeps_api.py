"""Sweeps over real HTTP: the notes' init x activation table in one call (a short version of the
README's), diverged runs reported and not crashed, ranking, plot, cancel, the median rule."""

from __future__ import annotations

import time

import pytest

from rnnlab.service.schemas.examples import NOTES_SWEEP
from tests.conftest import LiveService, start_service
from tests.service.live_databases import live  # noqa: F401  (fixture)

# The README's notes sweep, short: 1,500 iterations, two seeds
NOTES = {
    **NOTES_SWEEP,
    "name": "notes-short",
    "tags": ["notes", "ci"],
    "hyperparams": {**NOTES_SWEEP["hyperparams"], "iterations": 1500},
    "seeds": [0, 1],
}
# Overflows at its first step: the loss cannot be computed.
EXPLODING = {
    "activation": "relu",
    "init": "normal",
    "init_std": 10.0,
    "learning_rate": 10.0,
    "binary_dim": 32,
    "hidden_size": 32,
}


def wait(live: LiveService, sweep_id: int, timeout: float = 300) -> dict:  # noqa: F811
    deadline = time.monotonic() + timeout
    while True:
        sweep = live.client.get(f"/sweeps/{sweep_id}").json()
        if sweep["status"] in ("finished", "cancelled"):
            return sweep
        assert time.monotonic() < deadline, sweep
        time.sleep(0.2)


def start(live: LiveService, body: dict) -> dict:  # noqa: F811
    response = live.client.post("/sweeps", json=body)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/sweeps/{response.json()['id']}"
    return response.json()


@pytest.fixture(scope="module")
def notes(live: LiveService) -> dict:  # noqa: F811
    queued = start(live, NOTES)
    assert queued["runs"] == 8 and queued["counts"]["queued"] + queued["counts"]["running"] == 8
    return wait(live, queued["id"])


def test_the_notes_table_in_one_call(notes: dict) -> None:
    assert notes["status"] == "finished"
    assert notes["counts"]["succeeded"] == 8
    assert [c["params"] for c in notes["cells"]] == NOTES["cells"]
    assert (notes["ranked_by"], notes["order"]) == ("steps", "ascending")
    best = notes["ranking"][0]
    assert best["params"] == {"init": "xavier", "activation": "tanh"}  # learns first
    tanh = notes["cells"][best["cell"]]
    assert tanh["metrics"]["final_accuracy"]["mean"] == 1.0
    assert tanh["metrics"]["steps"]["n"] == 2
    assert tanh["metrics"]["steps"]["min"] <= tanh["metrics"]["steps"]["mean"]
    assert sorted(job["seed"] for job in tanh["jobs"]) == [0, 1]
    for cell in notes["cells"]:
        assert cell["runs"] == 2 and cell["rank"] is not None
        for job in cell["jobs"]:
            assert job["model_id"] is not None and "final_loss" in job["metrics"]


def test_a_sweep_s_jobs_carry_its_name_and_tags(live: LiveService, notes: dict) -> None:  # noqa: F811
    jobs = live.client.get("/jobs", params={"sweep_id": notes["id"]}).json()
    assert jobs["count"] == 8
    assert {(j["name"], tuple(j["tags"]), j["sweep_id"]) for j in jobs["jobs"]} == {
        ("notes-short", ("ci", "notes"), notes["id"])
    }
    models = live.client.get("/models", params={"sweep_id": notes["id"], "sort": "steps"}).json()
    assert models["count"] == 8
    listed = live.client.get("/sweeps", params={"tag": "ci"}).json()
    assert notes["id"] in {s["id"] for s in listed["sweeps"]}


def test_ranking_by_another_metric(live: LiveService, notes: dict) -> None:  # noqa: F811
    ranked = live.client.get(f"/sweeps/{notes['id']}", params={"metric": "final_accuracy"}).json()
    assert (ranked["ranked_by"], ranked["order"]) == ("final_accuracy", "descending")
    means = [entry["mean"] for entry in ranked["ranking"]]
    assert means == sorted(means, reverse=True)


def test_the_plot_overlays_every_cell(live: LiveService, notes: dict) -> None:  # noqa: F811
    response = live.client.get(f"/sweeps/{notes['id']}/plot.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.text.lstrip().startswith("<?xml") and "</svg>" in response.text
    for cell in NOTES["cells"]:
        assert f"init={cell['init']}, activation={cell['activation']} (2 runs)" in response.text
    accuracy = live.client.get(f"/sweeps/{notes['id']}/plot.svg", params={"metric": "accuracy"})
    assert accuracy.status_code == 200


def test_diverged_runs_are_counted_and_explained(live: LiveService) -> None:  # noqa: F811
    body = {"task": "binary_addition", "cells": [{}, EXPLODING], "seeds": [0, 1]}
    body["hyperparams"] = {"iterations": 200}
    sweep = wait(live, start(live, body)["id"])
    assert sweep["status"] == "finished"
    fine, exploded = sweep["cells"]
    assert (fine["succeeded"], fine["diverged"], fine["failed"]) == (2, 0, 0)
    assert (exploded["succeeded"], exploded["diverged"], exploded["failed"]) == (0, 2, 0)
    assert exploded["rank"] is None and exploded["metrics"] == {}
    for job in exploded["jobs"]:
        assert job["diverged"] and job["status"] == "failed"
        assert "overflowed" in job["error"] or "NaN" in job["error"]
        assert "lower the learning rate" in job["error"]
    assert [entry["cell"] for entry in sweep["ranking"]] == [0]
    assert sweep["counts"]["diverged"] == 2
    assert live.client.get(f"/sweeps/{sweep['id']}/plot.svg").status_code == 200


def test_cancel_stops_every_run(live: LiveService) -> None:  # noqa: F811
    slow = {"iterations": 10_000_000, "learning_rate": 1e-6, "optimizer": "sgd"}
    sweep = start(live, {"task": "binary_addition", "hyperparams": slow, "seeds": [0, 1, 2]})
    deadline = time.monotonic() + 60
    while live.client.get(f"/sweeps/{sweep['id']}").json()["counts"]["running"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelled = live.client.post(f"/sweeps/{sweep['id']}/cancel")
    assert cancelled.status_code == 202
    done = wait(live, sweep["id"], timeout=60)
    assert done["status"] == "cancelled"
    assert done["counts"]["cancelled"] == 3
    again = live.client.post(f"/sweeps/{sweep['id']}/cancel")
    assert again.status_code == 409


def test_the_median_rule_stops_hopeless_runs(live: LiveService) -> None:  # noqa: F811
    body = {
        "task": "binary_addition",
        "hyperparams": {"iterations": 100_000},
        "cells": [{}, {"optimizer": "sgd", "learning_rate": 1e-4}],
        "seeds": [0, 1, 2],
        "early_stopping": {"min_progress": 0.02, "min_peers": 2},
    }
    sweep = wait(live, start(live, body)["id"], timeout=180)
    good, hopeless = sweep["cells"]
    assert good["succeeded"] == 3 and good["early_stopped"] == 0
    assert hopeless["early_stopped"] == 3 and hopeless["cancelled"] == 3
    for job in hopeless["jobs"]:
        assert job["error"].startswith("early stopped at step")
        assert "median" in job["error"]
    assert sweep["early_stopping"] == {"metric": "loss", "min_progress": 0.02, "min_peers": 2}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grid": {"hidden_sizes": [4, 8]}}, "unknown hyperparameters in grid: hidden_sizes"),
        ({"grid": {"seed": [1, 2]}}, "seed cannot vary"),
        ({"grid": {"hidden_size": []}}, "at least 1 item"),
        ({"grid": {"hidden_size": list(range(1, 52))}}, "at most 50 items"),
        ({"cells": [{"hidden_size": 8}, {"hidden_size": 0}]}, "cell 1 {'hidden_size': 0}"),
        ({"cells": [{"cell": "lstm", "bias": False}]}, "cell 0"),
        ({"hyperparams": {"colour": "red"}}, "unknown hyperparameters colour"),
        ({"metric": "test_perplexity"}, "unknown metric 'test_perplexity'"),
        ({"early_stopping": {"metric": "perplexity"}}, "unknown metric 'perplexity'"),
        ({"early_stopping": {"min_progress": 2}}, "min_progress"),
        ({"grid": {"hidden_size": list(range(1, 51)), "num_layers": [1, 2, 3]}}, "over 100"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [-1]}, "seeds"),
        ({"task": "chess"}, "task"),
        ({"tags": ["no spaces"]}, "tags"),
    ],
)
def test_a_bad_sweep_is_a_422_naming_the_problem(
    live: LiveService,  # noqa: F811
    change: dict,
    message: str,
) -> None:
    before = live.client.get("/sweeps").json()["count"]
    response = live.client.post("/sweeps", json={"task": "binary_addition", **change})
    assert response.status_code == 422, response.text
    assert message in response.text
    assert live.client.get("/sweeps").json()["count"] == before  # nothing was queued


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/sweeps/999999", {}, 404),
        ("/sweeps/999999/plot.svg", {}, 404),
        ("/sweeps/0", {}, 422),
        ("/sweeps/1", {"metric": "bogus"}, 422),
        ("/sweeps/1", {"rank": "steps"}, 422),
        ("/sweeps/1/plot.svg", {"metric": "final_loss"}, 422),
        ("/sweeps", {"status": "running"}, 422),
    ],
)
def test_bad_reads_are_4xx(
    live: LiveService,  # noqa: F811
    notes: dict,
    path: str,
    params: dict,
    code: int,
) -> None:
    path = path.replace("/sweeps/1", f"/sweeps/{notes['id']}")
    assert live.client.get(path, params=params).status_code == code


def test_a_next_word_sweep_ranks_by_test_perplexity(live: LiveService) -> None:  # noqa: F811
    small = {"epochs": 2, "hidden_size": 12, "embedding_size": 6, "batch_size": 8, "seq_len": 8}
    body = {"task": "next_word", "hyperparams": small, "grid": {"cell": ["lstm", "gru"]}}
    sweep = wait(live, start(live, body)["id"])
    assert (sweep["ranked_by"], sweep["order"]) == ("test_perplexity", "ascending")
    assert sweep["counts"]["succeeded"] == 2
    assert {entry["params"]["cell"] for entry in sweep["ranking"]} == {"lstm", "gru"}
    assert sweep["cells"][0]["metrics"]["test_perplexity"]["n"] == 1
    plot = live.client.get(f"/sweeps/{sweep['id']}/plot.svg")  # validation_loss by epoch
    assert plot.status_code == 200 and "cell=gru (1 runs)" in plot.text


def test_cancelling_a_missing_sweep_is_404(live: LiveService) -> None:  # noqa: F811
    assert live.client.post("/sweeps/999999/cancel").status_code == 404


def test_a_sweep_larger_than_the_queue_is_refused(tmp_path) -> None:
    small = start_service(tmp_path, max_queued_jobs="2")
    try:
        response = small.client.post(
            "/sweeps", json={"task": "binary_addition", "seeds": [0, 1, 2]}
        )
        assert response.status_code == 422
        assert "RNNLAB_MAX_QUEUED_JOBS" in response.json()["detail"]
    finally:
        small.stop()
