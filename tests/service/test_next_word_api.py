"""Next word over HTTP: zero set-up on the demo corpus, an uploaded corpus, predict and generate."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import LiveService

STORY = ("the cat sat on the mat and the dog sat on the log . " * 150).replace(" .", ".")


@pytest.fixture(scope="module")
def demo_model(service: LiveService) -> dict:
    response = service.client.post("/train", json={"task": "next_word", "hyperparams": {}})
    assert response.status_code == 202
    job = service.wait_for_job(response.json()["id"], timeout=300)
    assert job["status"] == "succeeded", job
    return job


def test_demo_corpus_is_registered_at_first_start(service: LiveService) -> None:
    corpora = service.client.get("/corpora").json()["corpora"]
    demo = [c for c in corpora if c["name"] == "demo"]
    assert demo and demo[0]["tokens"] > 4000
    assert demo[0]["unknown_token"] == "<unk>"


def test_zero_setup_training_logs_per_epoch_metrics(service: LiveService, demo_model: dict) -> None:
    model = service.client.get(f"/models/{demo_model['model_id']}").json()
    assert model["task"] == "next_word"
    assert model["corpus_id"] == demo_model["corpus_id"]
    epochs = demo_model["hyperparams"]["epochs"]
    per_epoch = ("train_loss", "validation_loss", "validation_perplexity", "validation_accuracy")
    once = ("test_loss", "test_perplexity", "test_accuracy")  # at the end, on the kept weights
    for name in (*per_epoch, "tokens_per_second", *once):
        assert name in model["metrics"]
        values = service.client.get(
            f"/jobs/{demo_model['id']}/metrics", params={"name": name}
        ).json()["metrics"]
        assert len(values) == (1 if name in once else epochs)
        if name in once:
            assert values[0]["value"] == model["metrics"][name]
    assert 1 <= model["metrics"]["best_epoch"] <= epochs  # where the kept weights come from
    assert service.client.get(f"/jobs/{demo_model['id']}/metrics", params={"name": "loss"}).json()[
        "metrics"
    ]


def test_top_k_predictions(service: LiveService, demo_model: dict) -> None:
    answer = service.client.get("/predict", params={"text": "The children walk to", "k": 5}).json()
    assert answer["model_id"] == demo_model["model_id"]
    assert answer["context"] == ["the", "children", "walk", "to"]
    assert answer["unknown_words"] == []
    probabilities = [p["probability"] for p in answer["predictions"]]
    assert len(probabilities) == 5
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1.0 + 1e-6
    unknown = service.client.get("/predict", params={"text": "xylophone quasar", "k": 3}).json()
    assert unknown["unknown_words"] == ["xylophone", "quasar"]


def test_concurrent_predictions_get_the_answers_they_get_alone(
    service: LiveService, demo_model: dict
) -> None:
    """Requests arriving together share a batched pass; each keeps its own answer (the same
    words, the probabilities to float32 rounding)."""
    texts = ["the", "the children walk to", "a dog", "school is", "we", "on the way home the"]
    queries = [{"text": text, "k": 1 + i % 4} for i, text in enumerate(texts)]
    alone = [service.client.get("/predict", params=q).json() for q in queries]
    # Asked again in capitals: the same words, but not the answer cache's (text, k) keys.
    queries = [{**q, "text": q["text"].upper()} for q in queries]

    async def together() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as client:
            return await asyncio.gather(*(client.get("/predict", params=q) for q in queries * 5))

    for i, response in enumerate(asyncio.run(together())):
        assert response.status_code == 200, response.text
        answer, expected = response.json(), alone[i % len(queries)]
        assert {**answer, "predictions": words(answer)} == {
            **expected,
            "predictions": words(expected),
        }
        assert probabilities(answer) == pytest.approx(probabilities(expected), rel=1e-5)


def words(answer: dict) -> list[str]:
    return [p["word"] for p in answer["predictions"]]


def probabilities(answer: dict) -> list[float]:
    return [p["probability"] for p in answer["predictions"]]


def test_generate_is_repeatable_with_a_seed(service: LiveService, demo_model: dict) -> None:
    params = {"text": "in the morning", "words": 12, "temperature": 0.8, "seed": 7, "top_k": 20}
    first = service.client.get("/generate", params=params).json()
    again = service.client.get("/generate", params=params).json()
    assert first == again
    assert len(first["continuation"]) == 12
    assert first["text"].startswith("in the morning ")
    assert first["model_id"] == demo_model["model_id"]
    long = service.client.get("/generate", params={"text": "the", "words": 300, "seed": 1}).json()
    assert "<unk>" not in long["continuation"]


def test_uploaded_corpus_is_learned(service: LiveService) -> None:
    corpus = service.client.post(
        "/corpora", content=STORY, params={"name": "story"}, headers={"content-type": "text/plain"}
    ).json()
    job = service.train(
        "next_word",
        corpus_id=corpus["id"],
        epochs=15,
        batch_size=8,
        hidden_size=32,
        embedding_size=16,
        learning_rate=0.02,
    )
    finished = service.wait_for_job(job["id"], timeout=300)
    assert finished["status"] == "succeeded", finished
    model = service.client.get(f"/models/{finished['model_id']}").json()
    assert model["metrics"]["test_perplexity"] < 1.5  # an eight-word story, learned
    for context, expected in (("the cat sat on the", "mat"), ("the dog sat on the", "log")):
        answer = service.client.get(
            "/predict", params={"text": context, "k": 1, "model": finished["model_id"]}
        ).json()
        assert answer["predictions"][0]["word"] == expected


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/predict", {"text": ""}, 422, "no word"),
        ("/predict", {"text": "123 !!!"}, 422, "no word"),
        ("/predict", {"text": "the cat", "k": 0}, 422, "greater than or equal to 1"),
        ("/predict", {"text": "the cat", "k": 10**6}, 422, "k must be in 1.."),
        ("/predict", {"text": "the cat", "a": 1}, 422, "not both"),
        ("/generate", {"text": "the cat", "temperature": 0}, 422, "greater than 0"),
        ("/generate", {"text": "the cat", "temperature": -1}, 422, "greater than 0"),
        ("/generate", {"text": "the cat", "top_k": 10**6}, 422, "top_k must be in 1.."),
        ("/generate", {"text": ""}, 422, "no word"),
        ("/generate", {}, 422, "text"),
        ("/generate", {"text": "the", "model": 999999}, 404, "does not exist"),
    ],
)
def test_bad_next_word_queries(
    service: LiveService, demo_model: dict, path: str, params: dict, status: int, message: str
) -> None:
    response = service.client.get(path, params=params)
    assert response.status_code == status, response.text
    assert message in str(response.json()["detail"])


def test_text_with_a_binary_addition_model_is_refused(
    service: LiveService, demo_model: dict
) -> None:
    adder = service.wait_for_job(service.train("binary_addition")["id"])
    for path in ("/predict", "/generate"):
        response = service.client.get(path, params={"text": "the cat", "model": adder["model_id"]})
        assert response.status_code == 422
        assert "binary_addition model" in response.json()["detail"]


def test_corpus_too_small_for_the_hyperparameters(service: LiveService) -> None:
    corpus = service.client.post(
        "/corpora", content=STORY, headers={"content-type": "text/plain"}
    ).json()
    response = service.client.post(
        "/train",
        json={
            "task": "next_word",
            "hyperparams": {"corpus_id": corpus["id"], "batch_size": 512, "seq_len": 50},
        },
    )
    assert response.status_code == 422
    assert "lower batch_size or seq_len" in response.json()["detail"]
