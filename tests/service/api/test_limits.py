"""Every limit at its edge: exactly at the bound is served, one past it is refused with a 4xx that
names the bound, and nothing is lost. The upload cap (declared length, chunked and multipart),
the queue cap one request after another, k, words, top_k, text length, operands, ids and the
list parameters. (Hyperparameter bounds and the queue cap under concurrent requests have their
own tests.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rnnlab.service.schemas.ids import MAX_ID
from tests.conftest import LiveService, start_service

CAP = 4000  # bytes, small enough to send many times, large enough for a usable corpus


def text_of(size: int) -> bytes:
    """Exactly `size` bytes of words (~1,300 of them in 4,000 bytes: a usable corpus)."""
    return (b"ab " * (size // 3 + 1))[:size]


def multipart_of(size: int) -> tuple[bytes, str]:
    """A multipart body of exactly `size` bytes with one text file, and its content type."""
    boundary = "----rnnlab-edge"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + text_of(size - len(head) - len(tail)) + tail
    assert len(body) == size
    return body, f"multipart/form-data; boundary={boundary}"


def chunks_of(size: int, chunk: int = 700) -> Iterator[bytes]:
    data = text_of(size)
    for start in range(0, size, chunk):
        yield data[start : start + chunk]


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    live = start_service(Path(tmp_path_factory.mktemp("capped")), max_upload_bytes=str(CAP))
    yield live
    live.stop()


def corpus_count(live: LiveService) -> int:
    return live.client.get("/corpora").json()["corpora"].__len__()


@pytest.mark.parametrize("how", ["content-length", "chunked", "multipart"])
def test_an_upload_of_exactly_the_cap_is_stored_and_one_byte_more_is_413(capped, how) -> None:
    def send(size: int):
        if how == "multipart":
            body, content_type = multipart_of(size)
            return capped.client.post(
                "/corpora", content=body, headers={"content-type": content_type}
            )
        content = text_of(size) if how == "content-length" else chunks_of(size)
        return capped.client.post(
            "/corpora", content=content, headers={"content-type": "text/plain"}
        )

    before = corpus_count(capped)
    at_cap = send(CAP)
    assert at_cap.status_code == 201, at_cap.text
    assert corpus_count(capped) == before + 1
    over = send(CAP + 1)
    assert over.status_code == 413, over.text
    assert f"larger than {CAP} bytes" in over.json()["detail"]
    assert corpus_count(capped) == before + 1  # nothing stored, nothing lost
    assert capped.client.get("/healthz").status_code == 200


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(capped) -> None:
    """The declared Content-Length alone decides: a client that announces CAP + 1 bytes is told
    at once (the connection closes), even before it sends them."""
    over = capped.client.post(
        "/corpora",
        content=text_of(CAP + 1),
        headers={"content-type": "text/plain", "content-length": str(CAP + 1)},
    )
    assert over.status_code == 413
    assert over.headers.get("connection") == "close"


def test_the_queue_takes_exactly_its_cap_one_request_after_another(service_factory) -> None:
    live = service_factory(max_queued_jobs="1")
    running = live.train("next_word", epochs=10_000)
    live.wait_for_job(running["id"], until=("running",))
    first = live.train("binary_addition", iterations=50)  # the queue now holds its cap: 1
    refused = live.client.post("/train", json={"task": "binary_addition", "hyperparams": {}})
    assert refused.status_code == 429
    assert "RNNLAB_MAX_QUEUED_JOBS=1" in refused.json()["detail"]
    assert live.client.get("/jobs", params={"status": "queued"}).json()["count"] == 1
    # one slot frees: exactly one more is taken
    assert live.client.post(f"/jobs/{first['id']}/cancel").status_code == 202
    second = live.train("binary_addition", iterations=50)
    again = live.client.post("/train", json={"task": "binary_addition", "hyperparams": {}})
    assert again.status_code == 429
    live.client.post(f"/jobs/{running['id']}/cancel")
    assert live.wait_for_job(second["id"])["status"] == "succeeded"  # the queued one ran
    assert live.client.get(f"/jobs/{first['id']}").json()["status"] == "cancelled"


# -- one service with a small next-word model and a binary-addition model ------------------------
STORY = "the cat sat on the mat and the dog sat on the log " * 80


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveService, dict]]:
    live = start_service(Path(tmp_path_factory.mktemp("served")))
    corpus = live.client.post(
        "/corpora", content=STORY, headers={"content-type": "text/plain"}
    ).json()
    small = dict(hidden_size=8, embedding_size=8, batch_size=4, seq_len=5, epochs=1)
    word_job = live.train("next_word", corpus_id=corpus["id"], **small)
    sum_job = live.train("binary_addition", binary_dim=4, iterations=100)
    info = {
        "corpus": corpus,
        "vocabulary": corpus["vocabulary_size"],
        "word_model": live.wait_for_job(word_job["id"], timeout=120)["model_id"],
        "sum_model": live.wait_for_job(sum_job["id"], timeout=120)["model_id"],
        "max_operand": 2**3 - 1,
    }
    assert info["word_model"] and info["sum_model"]
    yield live, info
    live.stop()


def test_k_from_1_to_the_vocabulary_and_not_beyond(served) -> None:
    live, info = served
    vocabulary = info["vocabulary"]
    for k in (1, vocabulary):
        response = live.client.get("/predict", params={"text": "the cat", "k": k})
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == k
    for k, message in (
        (vocabulary + 1, f"k must be in 1..{vocabulary}"),
        (0, "greater than or equal to 1"),
    ):
        response = live.client.get("/predict", params={"text": "the cat", "k": k})
        assert response.status_code == 422, k
        assert message in str(response.json()["detail"])


def test_generate_words_and_top_k_at_their_edges(served) -> None:
    live, info = served
    vocabulary = info["vocabulary"]
    for words in (1, 500):
        response = live.client.get("/generate", params={"text": "the", "words": words, "seed": 1})
        assert response.status_code == 200, response.text
        assert len(response.json()["continuation"]) == words
    for words in (0, 501):
        response = live.client.get("/generate", params={"text": "the", "words": words})
        assert response.status_code == 422, words
    assert (
        live.client.get("/generate", params={"text": "the", "top_k": vocabulary}).status_code == 200
    )
    over = live.client.get("/generate", params={"text": "the", "top_k": vocabulary + 1})
    assert over.status_code == 422 and f"top_k must be in 1..{vocabulary}" in over.json()["detail"]
    assert live.client.get("/generate", params={"text": "the", "top_k": 0}).status_code == 422
    assert (
        live.client.get("/generate", params={"text": "the", "temperature": 100}).status_code == 200
    )
    assert (
        live.client.get("/generate", params={"text": "the", "temperature": 100.001}).status_code
        == 422
    )


@pytest.mark.parametrize("path", ["/predict", "/generate"])
def test_a_context_of_exactly_10000_characters_is_read_and_one_more_is_refused(
    served, path
) -> None:
    live, _ = served
    text = ("the cat " * 1250)[:10_000]
    assert len(text) == 10_000
    assert live.client.get(path, params={"text": text, "words": 1}).status_code == 200
    response = live.client.get(path, params={"text": text + "a", "words": 1})
    assert response.status_code == 422
    assert "10000" in str(response.json()["detail"])


def test_operands_from_0_to_the_largest_of_binary_dim_and_not_beyond(served) -> None:
    live, info = served
    top = info["max_operand"]
    for a, b in ((0, 0), (top, top), (0, top)):
        response = live.client.get("/predict", params={"a": a, "b": b})
        assert response.status_code == 200, response.text
    for a, b in ((top + 1, 0), (0, top + 1)):  # within the schema's bound, over binary_dim's
        response = live.client.get("/predict", params={"a": a, "b": b})
        assert response.status_code == 422, (a, b)
        assert f"0..{top}" in response.json()["detail"]
    response = live.client.get("/predict", params={"a": -1, "b": 0})  # the schema's own bound
    assert response.status_code == 422
    assert "greater than or equal to 0" in str(response.json()["detail"])


ID_PATHS = [
    "/jobs/{}",
    "/jobs/{}/metrics",
    "/models/{}",
    "/corpora/{}",
    "/corpora/{}/dictionary",
]


@pytest.mark.parametrize("template", ID_PATHS)
def test_ids_from_1_to_max_id_are_looked_up_and_others_refused(served, template) -> None:
    live, _ = served
    assert live.client.get(template.format(1)).status_code == 200
    assert live.client.get(template.format(MAX_ID)).status_code == 404
    for bad in (0, MAX_ID + 1, -1):
        assert live.client.get(template.format(bad)).status_code == 422, bad


# Python's int() reads each as 1 (`0_1`, `01`, `+1`, ` 1`) or as 10 (`1_0`): one resource would
# answer at many addresses.
NOT_PLAIN = ("0_1", "01", "%2B1", "1_0", "00", "1%20")


@pytest.mark.parametrize("template", [*ID_PATHS, "/jobs/{}/plot.svg", "/models/{}/weights.npz"])
def test_ids_in_paths_are_plain_decimal_integers(served, template) -> None:
    live, _ = served
    for bad in NOT_PLAIN:
        response = live.client.get(template.format(bad))
        assert response.status_code == 422, (bad, response.text)
        assert "decimal digits" in response.json()["detail"][0]["msg"]


def test_ids_in_queries_are_plain_decimal_integers(served) -> None:
    live, info = served
    job_id = live.client.get("/jobs").json()["jobs"][-1]["id"]
    for path, params in (
        ("/predict", {"text": "the", "model": "0{}"}),
        ("/generate", {"text": "the", "model": "0{}"}),
        ("/jobs", {"sweep_id": "0{}"}),
        ("/models", {"sweep_id": "+{}"}),
        (f"/jobs/{job_id}/records", {"since_id": "0_{}"}),
        ("/plots/compare.svg", {"jobs": f"{job_id},0{{}}"}),
    ):
        asked = {name: value.format(info["word_model"]) for name, value in params.items()}
        assert live.client.get(path, params=asked).status_code == 422, (path, asked)


def test_the_schema_states_how_an_id_is_written(served) -> None:
    live, _ = served
    paths = live.client.get("/openapi.json").json()["paths"]
    for path, name in (("/jobs/{job_id}", "job_id"), ("/models/{model_id}", "model_id")):
        (parameter,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == name]
        assert parameter["schema"]["pattern"] == "^[1-9][0-9]{0,9}$"
    (sweep_id,) = [p for p in paths["/jobs"]["get"]["parameters"] if p["name"] == "sweep_id"]
    assert "^[1-9][0-9]{0,9}$" in str(sweep_id["schema"])


def test_a_chunked_json_body_over_its_cap_is_413(served) -> None:
    """Without a Content-Length the cap is found while the body streams in: 413 as for a
    declared length, not the 400 of a body that failed to parse."""
    live, _ = served
    body = b'{"task": "binary_addition", "hyperparams": {"name": "' + b"x" * 20_000 + b'"}}'
    response = live.client.post(
        "/train",
        content=(body[start : start + 1000] for start in range(0, len(body), 1000)),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert "RNNLAB_MAX_BODY_BYTES" in response.json()["detail"]


def test_model_and_corpus_ids_in_queries_and_bodies_at_their_edges(served) -> None:
    live, info = served
    for path, params in (("/predict", {"text": "the"}), ("/generate", {"text": "the"})):
        assert (
            live.client.get(path, params={**params, "model": info["word_model"]}).status_code == 200
        )
        assert live.client.get(path, params={**params, "model": MAX_ID}).status_code == 404
        for bad in (0, MAX_ID + 1):
            assert live.client.get(path, params={**params, "model": bad}).status_code == 422
    assert live.client.post(f"/jobs/{MAX_ID}/cancel").status_code == 404
    assert live.client.post(f"/jobs/{MAX_ID + 1}/cancel").status_code == 422
    before = live.client.get("/jobs").json()["count"]
    for corpus_id, status in ((MAX_ID, 404), (MAX_ID + 1, 422), (0, 422)):
        response = live.client.post(
            "/train", json={"task": "next_word", "hyperparams": {"corpus_id": corpus_id}}
        )
        assert response.status_code == status, corpus_id
    assert live.client.get("/jobs").json()["count"] == before


@pytest.mark.parametrize("path", ["/jobs", "/models"])
def test_list_limit_and_offset_at_their_edges(served, path) -> None:
    live, _ = served
    for params in ({"limit": 1}, {"limit": 1000}, {"offset": 0}, {"offset": MAX_ID}):
        assert live.client.get(path, params=params).status_code == 200, params
    assert live.client.get(path, params={"limit": 1}).json()[path[1:]].__len__() == 1
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"offset": MAX_ID + 1}):
        assert live.client.get(path, params=params).status_code == 422, params


def test_corpus_name_threshold_and_metric_name_at_their_edges(served) -> None:
    live, _ = served
    post = lambda **params: live.client.post(  # noqa: E731
        "/corpora", params=params, content=STORY, headers={"content-type": "text/plain"}
    )
    assert post(name="n" * 200).status_code == 201
    assert post(name="n" * 201).status_code == 422
    assert post(name="").status_code == 422
    assert post(unknown_threshold=1_000_000).status_code == 201
    assert post(unknown_threshold=1_000_001).status_code == 422
    job_id = live.client.get("/jobs").json()["jobs"][-1]["id"]
    metrics = f"/jobs/{job_id}/metrics"
    assert live.client.get(metrics, params={"name": "x" * 64}).status_code == 200
    assert live.client.get(metrics, params={"name": "x" * 65}).status_code == 422
