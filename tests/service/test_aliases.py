"""Model aliases: moved atomically within a task, usable wherever model= is, and `default`
choosing what /predict serves when no model is named."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import LiveService
from tests.service.live_databases import live, succeeded  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def models(live: LiveService) -> dict[str, int]:  # noqa: F811
    jobs = {
        "first": succeeded(live),
        "second": succeeded(live, hyperparams={"seed": 1}),
        "words": succeeded(live, "next_word"),
    }
    return {key: job["model_id"] for key, job in jobs.items()}


def put(live: LiveService, model_id: int, alias: str):  # noqa: F811
    return live.client.put(f"/models/{model_id}/aliases/{alias}")


def predict(live: LiveService, **params) -> dict:  # noqa: F811
    response = live.client.get("/predict", params={"a": 3, "b": 4, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_alias_moves_and_says_where_it_was(live: LiveService, models: dict) -> None:  # noqa: F811
    first = put(live, models["first"], "champion")
    assert first.status_code == 200
    assert first.json()["previous_model_id"] is None
    moved = put(live, models["second"], "champion").json()
    assert (moved["model_id"], moved["previous_model_id"]) == (models["second"], models["first"])
    assert "champion" in live.client.get(f"/models/{models['second']}").json()["aliases"]
    assert "champion" not in live.client.get(f"/models/{models['first']}").json()["aliases"]
    answer = predict(live, model="champion")
    assert (answer["model_id"], answer["model_selected_by"]) == (models["second"], "alias")
    assert live.client.get("/models", params={"alias": "champion"}).json()["count"] == 1


def test_aliases_belong_to_a_task(live: LiveService, models: dict) -> None:  # noqa: F811
    assert put(live, models["words"], "champion").status_code == 200
    words = live.client.get("/predict", params={"text": "the", "k": 2, "model": "champion"})
    assert words.json()["model_id"] == models["words"]
    generated = live.client.get(
        "/generate", params={"text": "the", "words": 3, "model": "champion"}
    )
    assert generated.json()["model_id"] == models["words"]
    assert generated.json()["model_selected_by"] == "alias"
    # the binary-addition champion did not move
    assert predict(live, model="champion")["model_id"] != models["words"]


def test_default_decides_what_predict_serves(live: LiveService, models: dict) -> None:  # noqa: F811
    newest = predict(live)
    assert newest["model_selected_by"] == "newest"
    assert put(live, models["first"], "default").status_code == 200
    chosen = predict(live)
    assert (chosen["model_id"], chosen["model_selected_by"]) == (models["first"], "default_alias")
    assert predict(live, model=str(models["second"]))["model_selected_by"] == "id"
    assert live.client.delete(f"/models/{models['first']}/aliases/default").status_code == 204
    assert predict(live)["model_selected_by"] == "newest"


def test_a_moving_alias_is_never_missing(live: LiveService, models: dict) -> None:  # noqa: F811
    put(live, models["first"], "moving")
    stop = threading.Event()

    def move() -> None:
        while not stop.is_set():
            for key in ("second", "first"):
                put(live, models[key], "moving")

    mover = threading.Thread(target=move)
    mover.start()
    try:
        seen = {predict(live, model="moving")["model_id"] for _ in range(150)}
    finally:
        stop.set()
        mover.join()
    assert seen <= {models["first"], models["second"]}


@pytest.mark.parametrize("alias", ["Champion", "1st", "has space", "x" * 65, "-a"])
def test_a_bad_alias_name_is_a_422(live: LiveService, models: dict, alias: str) -> None:  # noqa: F811
    assert put(live, models["first"], alias).status_code == 422
    assert live.client.get("/predict", params={"a": 1, "b": 2, "model": alias}).status_code == 422


def test_unknown_aliases_and_models_are_404(live: LiveService, models: dict) -> None:  # noqa: F811
    missing = live.client.get("/predict", params={"a": 1, "b": 2, "model": "nobody-has-it"})
    assert missing.status_code == 404
    assert "PUT /models/{id}/aliases/nobody-has-it" in missing.json()["detail"]
    assert put(live, 2**31 - 2, "champion").status_code == 404
    assert live.client.delete(f"/models/{models['first']}/aliases/nope").status_code == 404
    # an alias of the other task is not one of this task's
    put(live, models["words"], "words-only")
    assert predict_status(live, "words-only") == 404


def predict_status(live: LiveService, model: str) -> int:  # noqa: F811
    return live.client.get("/predict", params={"a": 1, "b": 2, "model": model}).status_code
