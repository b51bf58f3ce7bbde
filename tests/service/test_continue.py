"""Continuing a model (`init_from_model`), on SQLite and PostgreSQL: the new job starts where
its parent ended and records it; every continuation that cannot fit is refused with what
differs and what is allowed."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from rnnlab.models.tasks import TASKS
from rnnlab.models.tasks.task import Corpus
from rnnlab.models.training import TrainingHooks
from rnnlab.service.jobs.checkpoints import save_checkpoint
from rnnlab.service.store.blobs import arrays_to_npz
from rnnlab.service.store.corpora import load_dictionary, load_token_ids
from rnnlab.service.store.db import Database
from tests.conftest import LiveService
from tests.service.live_databases import live, succeeded  # noqa: F401  (fixture)
from tests.service.test_recovery import (
    assert_same_run,
    metric_series,
    model_sha,
    wait_for_checkpoint,
)

DEMO_TEXT = Path(__file__).resolve().parents[2] / "service" / "store" / "data" / "demo_corpus.txt"
PARENT = {"epochs": 25, "hidden_size": 16, "embedding_size": 8, "log_every": 1, "seed": 1}


@pytest.fixture(scope="module")
def parent(live: LiveService) -> dict:  # noqa: F811
    """A next-word model that has learnt the demo corpus for a few epochs."""
    return succeeded(live, "next_word", hyperparams=dict(PARENT))


def continue_from(live: LiveService, ref, task: str = "next_word", **hyperparams):  # noqa: F811
    body = {"task": task, "hyperparams": {"init_from_model": ref, **hyperparams}}
    return live.client.post("/train", json=body)


def metric(live: LiveService, job_id: int, name: str) -> list[tuple[int, float]]:  # noqa: F811
    points = live.client.get(f"/jobs/{job_id}/metrics", params={"name": name}).json()
    return [(point["step"], point["value"]) for point in points["metrics"]]


def test_a_continued_model_begins_where_its_parent_ended(live, parent) -> None:  # noqa: F811
    parent_model = parent["model_id"]
    assert live.client.put(f"/models/{parent_model}/aliases/base").status_code == 200
    answer = continue_from(live, "base", epochs=2, log_every=1)
    assert answer.status_code == 202, answer.text
    child = answer.json()
    assert (child["parent_model_id"], child["optimizer_state"]) == (parent_model, "fresh")
    # what the request leaves out is the parent's; the alias is stored as the id it meant
    assert child["hyperparams"]["hidden_size"] == PARENT["hidden_size"]
    assert child["hyperparams"]["init_from_model"] == parent_model
    assert child["corpus_id"] == parent["corpus_id"]
    child = live.wait_for_job(child["id"], timeout=180)
    assert child["status"] == "succeeded", child
    model = live.client.get(f"/models/{child['model_id']}").json()
    assert model["parent_model_id"] == parent_model
    assert live.client.get(f"/jobs/{child['id']}").json()["parent_model_id"] == parent_model

    # The child's first batch, before any update, against the same batch in the parent's last
    # epoch (each epoch reads the same batches in the same order) and in a fresh model's first.
    fresh = succeeded(live, "next_word", hyperparams={**PARENT, "epochs": 1})
    epoch_steps = metric(live, parent["id"], "train_loss")[0][0]
    parent_last_epoch = dict(metric(live, parent["id"], "loss"))[
        (PARENT["epochs"] - 1) * epoch_steps + 1
    ]
    first, fresh_first = (
        metric(live, child["id"], "loss")[0][1],
        metric(live, fresh["id"], "loss")[0][1],
    )
    assert abs(first - parent_last_epoch) < 0.1 * (fresh_first - parent_last_epoch), (
        first,
        parent_last_epoch,
        fresh_first,
    )


def test_a_model_or_alias_that_does_not_exist_is_a_404(live, parent) -> None:  # noqa: F811
    missing = continue_from(live, 987654)
    assert missing.status_code == 404
    assert "model 987654 does not exist" in missing.json()["detail"]
    no_alias = continue_from(live, "no-such-alias")
    assert no_alias.status_code == 404
    assert "no next_word model has the alias 'no-such-alias'" in no_alias.json()["detail"]


def test_hyperparameters_that_fix_the_shapes_must_be_the_parents(live, parent) -> None:  # noqa: F811
    answer = continue_from(live, parent["model_id"], hidden_size=32, num_layers=2)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert f"hidden_size 32 (model {parent['model_id']} has 16)" in detail
    assert f"num_layers 2 (model {parent['model_id']} has 1)" in detail
    assert "leave them out to keep them" in detail
    assert "embedding_size" in detail  # the list of what is shape-defining


def test_a_model_of_another_task_is_refused(live, parent) -> None:  # noqa: F811
    sums = succeeded(live, "binary_addition")
    answer = continue_from(live, sums["model_id"])
    assert answer.status_code == 422
    assert f"model {sums['model_id']} is a binary_addition model" in answer.json()["detail"]
    answer = continue_from(live, parent["model_id"], "binary_addition")
    assert answer.status_code == 422


def upload(live: LiveService, text: str | bytes) -> dict:  # noqa: F811
    response = live.client.post(
        "/corpora", content=text, params={"name": "x"}, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_another_corpus_must_have_the_same_dictionary(live, parent) -> None:  # noqa: F811
    other = upload(live, "a cat sat on a mat and a dog sat on a log " * 300)
    answer = continue_from(live, parent["model_id"], corpus_id=other["id"])
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert f"trained on corpus {parent['corpus_id']}" in detail
    assert f"corpus {other['id']} has another dictionary" in detail
    again = upload(live, DEMO_TEXT.read_bytes())  # the same text: the same dictionary
    answer = continue_from(live, parent["model_id"], corpus_id=again["id"], epochs=1)
    assert answer.status_code == 202, answer.text
    assert live.wait_for_job(answer.json()["id"], timeout=180)["status"] == "succeeded"


def test_an_id_or_alias_of_the_wrong_form_is_a_422(live, parent) -> None:  # noqa: F811
    for ref in ("Not An Alias", "0", "12345678901", 0, -3, True, 1.0):
        answer = continue_from(live, ref)
        assert answer.status_code == 422, (ref, answer.text)
        assert "init_from_model" in answer.text
    as_text = continue_from(live, str(parent["model_id"]), epochs=1)  # as a form sends it
    assert as_text.status_code == 202, as_text.text
    assert as_text.json()["hyperparams"]["init_from_model"] == parent["model_id"]
    live.wait_for_job(as_text.json()["id"], timeout=180)


def test_a_sweep_continues_a_model_over_seeds(live, parent) -> None:  # noqa: F811
    hyperparams = {"init_from_model": parent["model_id"], "epochs": 1}
    body = {"task": "next_word", "hyperparams": hyperparams, "seeds": [0, 1]}
    answer = live.client.post("/sweeps", json=body)
    assert answer.status_code == 202, answer.text
    listed = live.client.get("/jobs", params={"sweep_id": answer.json()["id"]}).json()["jobs"]
    assert len(listed) == 2
    for job in listed:
        assert (job["parent_model_id"], job["optimizer_state"]) == (parent["model_id"], "fresh")
        assert job["hyperparams"]["hidden_size"] == PARENT["hidden_size"]
        assert live.wait_for_job(job["id"], timeout=180)["status"] == "succeeded"


class Capture(TrainingHooks):
    def __init__(self) -> None:
        self.states: list[tuple[int, dict]] = []

    def save_checkpoint(self, step, state):
        self.states.append((step, {k: v.copy() for k, v in state.items()}))


def keep_a_checkpoint(live: LiveService, job: dict) -> None:  # noqa: F811
    """Store, for the finished `job`, the checkpoint its run wrote at its first epoch end (the
    same run, deterministic for its seed), as if it had been kept."""
    url = live.env.get("RNNLAB_DATABASE_URL") or f"sqlite:///{live.data_dir / 'rnnlab.db'}"
    db = Database.connect(url)
    try:
        with db.read() as session:
            ids, size = load_token_ids(session, job["corpus_id"])
            words = load_dictionary(session, job["corpus_id"]).words
        task = TASKS["next_word"]
        hooks = Capture()
        task.train(
            task.make_config(job["hyperparams"]), Corpus(ids, len(ids), size, words), hooks, None
        )
        step, state = hooks.states[0]
        save_checkpoint(db, job["id"], step, arrays_to_npz(state), lambda session: None)
    finally:
        db.dispose()


def test_the_optimizer_state_comes_from_the_parents_checkpoint_when_kept(live) -> None:  # noqa: F811
    parent = succeeded(live, "next_word", hyperparams={**PARENT, "epochs": 2})
    assert continue_from(live, parent["model_id"]).json()["optimizer_state"] == "fresh"
    keep_a_checkpoint(live, parent)
    answer = continue_from(live, parent["model_id"], epochs=1)
    assert answer.json()["optimizer_state"] == "from_checkpoint", answer.text
    assert live.wait_for_job(answer.json()["id"], timeout=180)["status"] == "succeeded"
    # another optimizer has other state: it starts fresh
    other = continue_from(live, parent["model_id"], epochs=1, optimizer="sgd")
    assert other.json()["optimizer_state"] == "fresh", other.text
    live.wait_for_job(other.json()["id"], timeout=180)


def test_a_parent_is_kept_while_a_job_continues_it(live) -> None:  # noqa: F811
    parent = succeeded(live, "next_word", hyperparams={**PARENT, "epochs": 1})
    done = succeeded(live, "next_word", hyperparams={"init_from_model": parent["model_id"]})
    running = continue_from(live, parent["model_id"], epochs=10_000).json()
    refused = live.client.delete(f"/models/{parent['model_id']}")
    assert refused.status_code == 409
    assert f"job(s) {running['id']} continue" in refused.json()["detail"]
    live.client.post(f"/jobs/{running['id']}/cancel")
    assert live.wait_for_job(running["id"], timeout=60)["status"] == "cancelled"
    assert live.client.delete(f"/models/{parent['model_id']}").status_code == 204
    # its children stay, without the link
    assert live.client.get(f"/models/{done['model_id']}").json()["parent_model_id"] is None
    assert live.client.get(f"/jobs/{done['id']}").json()["parent_model_id"] is None
    gone = continue_from(live, parent["model_id"])
    assert gone.status_code == 404


@pytest.mark.slow
def test_a_continued_job_killed_mid_way_resumes_bit_for_bit(service_factory) -> None:
    server = service_factory(checkpoint_seconds="0.2")
    parent = succeeded(server, "next_word", hyperparams={**PARENT, "epochs": 3})
    child = {"init_from_model": parent["model_id"], "epochs": 40, "log_every": 5}
    reference = server.wait_for_job(server.train("next_word", **child)["id"], timeout=300)
    assert reference["status"] == "succeeded" and reference["attempt"] == 1
    uninterrupted = (
        reference,
        metric_series(server, reference["id"]),
        model_sha(server, reference),
    )
    job = server.train("next_word", **child)
    running = wait_for_checkpoint(server, job["id"])
    os.kill(int(running["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    finished = server.wait_for_job(job["id"], timeout=300)
    assert (finished["status"], finished["attempt"]) == ("succeeded", 2), finished
    assert_same_run(server, finished, uninterrupted)
