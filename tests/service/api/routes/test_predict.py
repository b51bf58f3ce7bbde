"""`model=<id>` of an older model of the same task answers from that model, not the newest:
whether the older model is loaded yet or not, for /predict of both tasks and for /generate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveService, start_service

STORY = "the cat sat on the mat and the dog sat on the log " * 80
SMALL = dict(embedding_size=8, batch_size=4, seq_len=5, epochs=1)


@pytest.fixture(scope="module")
def two_of_each(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveService, dict]]:
    """Per task, the answers of the first model while it was the newest, then a second model."""
    live = start_service(Path(tmp_path_factory.mktemp("two")))
    corpus = live.client.post(
        "/corpora", content=STORY, headers={"content-type": "text/plain"}
    ).json()

    def model_of(task: str, **hyperparams) -> int:
        return live.wait_for_job(live.train(task, **hyperparams)["id"], timeout=120)["model_id"]

    older = {
        "sum": model_of("binary_addition", binary_dim=4, hidden_size=4, iterations=60, seed=1),
        "word": model_of("next_word", corpus_id=corpus["id"], hidden_size=8, seed=1, **SMALL),
    }
    alone = answers(live)  # the older models are the newest here
    newer = {
        "sum": model_of("binary_addition", binary_dim=4, hidden_size=12, iterations=60, seed=2),
        "word": model_of("next_word", corpus_id=corpus["id"], hidden_size=12, seed=2, **SMALL),
    }
    live.stop()  # a restart empties the model cache: the first requests below load from disk
    live = start_service(live.data_dir)
    yield live, {"older": older, "newer": newer, "alone": alone}
    live.stop()


def answers(live: LiveService, model: dict | None = None) -> dict[str, dict]:
    """The answers, without `model_selected_by` (how the request named its model, which differs
    by design between `model=<id>` and no model: test_selected_by checks it)."""
    model = model or {}
    get = live.client.get
    bodies = {
        "sum": get("/predict", params={"a": 3, "b": 5, **_model(model, "sum")}).json(),
        "word": get("/predict", params={"text": "the cat", "k": 3, **_model(model, "word")}).json(),
        "generate": get(
            "/generate", params={"text": "the", "words": 5, "seed": 7, **_model(model, "word")}
        ).json(),
    }
    for body in bodies.values():
        body.pop("model_selected_by")
    return bodies


def _model(model: dict, task: str) -> dict:
    return {"model": model[task]} if task in model else {}


def test_the_two_models_of_a_task_answer_differently(two_of_each) -> None:
    """Otherwise the tests below could not tell one model from the other."""
    live, models = two_of_each
    newest = answers(live)
    assert newest["sum"]["model_id"] == models["newer"]["sum"]
    assert newest["word"]["model_id"] == models["newer"]["word"]
    assert newest["sum"]["probabilities"] != models["alone"]["sum"]["probabilities"]
    assert newest["word"]["predictions"] != models["alone"]["word"]["predictions"]


@pytest.mark.parametrize("loaded_first", ["older model not loaded", "newest loaded first"])
def test_model_naming_the_older_one_answers_as_it_did_when_it_was_the_newest(
    two_of_each, loaded_first
) -> None:
    live, models = two_of_each
    if loaded_first == "newest loaded first":
        answers(live)
    for _ in range(2):  # the first request may load the model, the second finds it cached
        older = answers(live, models["older"])
        assert older["sum"] == models["alone"]["sum"]
        assert older["word"] == models["alone"]["word"]
        assert older["generate"] == models["alone"]["generate"]
        assert older["sum"]["model_id"] == models["older"]["sum"]
        assert older["generate"]["model_id"] == models["older"]["word"]


def test_model_naming_the_newest_or_nothing_answers_the_same(two_of_each) -> None:
    live, models = two_of_each
    assert answers(live, models["newer"]) == answers(live)


def test_selected_by_says_how_the_model_was_named(two_of_each) -> None:
    live, models = two_of_each
    named = {"a": 3, "b": 5, "model": models["newer"]["sum"]}
    assert live.client.get("/predict", params=named).json()["model_selected_by"] == "id"
    newest = live.client.get("/predict", params={"a": 3, "b": 5}).json()
    assert newest["model_selected_by"] == "newest"
