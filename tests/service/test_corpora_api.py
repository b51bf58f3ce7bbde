"""Uploading corpora: raw and multipart bodies, the notes' pre-processing, and every refusal."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import LiveService

SENTENCE = "The cat sat on the mat. The dog sat on the log. "
TEXT = SENTENCE * 200  # 2,400 words: enough for a training window and a test window


def upload(service: LiveService, body: bytes | str, **params) -> httpx.Response:
    return service.client.post(
        "/corpora", content=body, params=params, headers={"content-type": "text/plain"}
    )


def test_raw_text_upload_builds_the_dictionary(service: LiveService) -> None:
    response = upload(service, TEXT + "Zebra once.", name="cats", unknown_threshold=3)
    assert response.status_code == 201, response.text
    corpus = response.json()
    assert response.headers["location"] == f"/corpora/{corpus['id']}"
    assert corpus["name"] == "cats"
    assert corpus["tokens"] == 2402
    # the cat sat on mat dog log + the unknown token ("zebra" and "once" are seen once)
    assert corpus["vocabulary_size"] == 8
    assert corpus["unknown_token_fraction"] == pytest.approx(2 / 2402)
    assert corpus["characters"] == len(TEXT) + len("Zebra once.")
    assert len(corpus["sha256"]) == 64

    dictionary = service.client.get(f"/corpora/{corpus['id']}/dictionary").json()
    words = dictionary["words"]
    assert words["<unk>"] == {"id": 0, "count": 2}
    assert words["the"] == {"id": 1, "count": 800}
    assert "zebra" not in words
    assert service.client.get(f"/corpora/{corpus['id']}").json() == corpus
    assert corpus["id"] in [c["id"] for c in service.client.get("/corpora").json()["corpora"]]


def test_multipart_files_form_one_corpus(service: LiveService) -> None:
    files = [
        ("file", ("a.txt", TEXT.encode(), "text/plain")),
        ("file", ("b.txt", ("Birds fly. " * 10).encode(), "text/plain")),
    ]
    response = service.client.post("/corpora", files=files, params={"name": "two"})
    assert response.status_code == 201, response.text
    assert response.json()["tokens"] == 2400 + 20


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n  ", "empty"),
        (b"\xff\xfe not utf8", "UTF-8"),
        (b"1234 5678 !!! ???", "no word is left"),
        (b"just a few words", "at least"),
    ],
)
def test_unusable_text_gets_422_naming_the_problem(
    service: LiveService, body: bytes, message: str
) -> None:
    before = service.client.get("/corpora").json()["count"]
    response = upload(service, body)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert service.client.get("/corpora").json()["count"] == before


def test_wrong_content_type_and_bad_threshold(service: LiveService) -> None:
    response = service.client.post("/corpora", json={"text": TEXT})
    assert response.status_code == 422
    assert "text/plain" in response.json()["detail"]
    assert upload(service, TEXT, unknown_threshold=-1).status_code == 422


def test_bodies_over_the_cap_get_413_while_streaming(service_factory) -> None:
    live = service_factory(max_upload_bytes="5000")
    declared = upload(live, "word " * 2000)  # Content-Length 10,000
    assert declared.status_code == 413
    assert "RNNLAB_MAX_UPLOAD_BYTES" in declared.json()["detail"]

    def chunks():
        for _ in range(100):
            yield b"word " * 100  # chunked transfer: no Content-Length to check up front

    chunked = live.client.post("/corpora", content=chunks(), headers={"content-type": "text/plain"})
    assert chunked.status_code == 413
    multipart = live.client.post("/corpora", files={"file": ("big.txt", b"word " * 2000)})
    assert multipart.status_code == 413
    assert live.client.get("/healthz").status_code == 200
    assert upload(live, "a b c d " * 500).status_code == 201


def test_delete_is_refused_while_a_job_uses_the_corpus(service: LiveService) -> None:
    corpus = upload(service, TEXT, name="to-delete").json()
    unused = upload(service, TEXT, name="unused").json()
    assert service.client.delete(f"/corpora/{unused['id']}").status_code == 204
    assert service.client.get(f"/corpora/{unused['id']}").status_code == 404

    job = service.train("next_word", corpus_id=corpus["id"], epochs=1, batch_size=8)
    response = service.client.delete(f"/corpora/{corpus['id']}")
    assert response.status_code == 409
    assert "used by" in response.json()["detail"]
    service.wait_for_job(job["id"], timeout=120)
    assert service.client.delete(f"/corpora/{corpus['id']}").status_code == 409
    assert service.client.get(f"/corpora/{corpus['id']}").status_code == 200


def test_unknown_corpus_ids(service: LiveService) -> None:
    assert service.client.get("/corpora/987654").status_code == 404
    assert service.client.get("/corpora/987654/dictionary").status_code == 404
    assert service.client.delete("/corpora/987654").status_code == 404
    response = service.client.post(
        "/train", json={"task": "next_word", "hyperparams": {"corpus_id": 987654}}
    )
    assert response.status_code == 404
    assert "does not exist" in response.json()["detail"]
