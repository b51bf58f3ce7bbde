"""What bench/serving.py's scenarios ask: a model of each task trained through the service, the
queries sent to them, never-asked next-word contexts, and a long job to train beside them."""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from common import wait_for_job

from rnnlab.models.text import preprocess  # after common, which puts the repository on sys.path

DEMO_CORPUS = Path(__file__).resolve().parents[1] / "service/store/data/demo_corpus.txt"
NEXT_WORD_QUERY = "/predict?text=first%20citizen%20we%20are%20accounted&k=5"
BINARY_QUERY = "/predict?a=37&b=45"


def train(client, task: str, hyperparams: dict) -> dict:  # type: ignore[no-untyped-def]
    response = client.post("/train", json={"task": task, "hyperparams": hyperparams})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def upload_corpus(client, corpus: str) -> int | None:  # type: ignore[no-untyped-def]
    """The corpus id of the next-word model; None means the demo corpus."""
    if corpus == "demo":
        return None
    text = Path(corpus).read_bytes()
    response = client.post(
        "/corpora",
        params={"name": Path(corpus).stem},
        content=text,
        headers={"content-type": "text/plain"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def train_models(client: httpx.Client, args: argparse.Namespace) -> int | None:
    """A model of each task, both loaded into the cache; the corpus the next-word one read."""
    train(client, "binary_addition", {})
    corpus_id = upload_corpus(client, args.corpus)
    train(
        client,
        "next_word",
        {"epochs": args.epochs} | ({"corpus_id": corpus_id} if corpus_id else {}),
    )
    for path in (BINARY_QUERY, NEXT_WORD_QUERY):
        assert client.get(path).status_code == 200
    return corpus_id


def start_long_job(client, corpus_id: int | None) -> int:  # type: ignore[no-untyped-def]
    """A next-word job that trains for far longer than a wrk run; returns once it is running."""
    hyperparams = {"epochs": 10_000} | ({"corpus_id": corpus_id} if corpus_id else {})
    job = client.post("/train", json={"task": "next_word", "hyperparams": hyperparams}).json()
    while client.get(f"/jobs/{job['id']}").json()["status"] == "queued":
        time.sleep(0.05)
    time.sleep(0.5)  # past the job's start-up (corpus load), into the steady training loop
    return job["id"]


def contexts(corpus: str, count: int, seed: int) -> list[str]:
    """/predict paths of `count` different (context, k): 3-12 consecutive words at random places
    of the corpus, k in 1..10."""
    text = DEMO_CORPUS.read_text() if corpus == "demo" else Path(corpus).read_text()
    words = text.split()
    rng = random.Random(seed)
    paths: dict[str, None] = {}  # ordered, without repeats
    while len(paths) < count:
        start, length = rng.randrange(len(words) - 12), rng.randint(3, 12)
        context = " ".join(words[start : start + length])
        if preprocess(context):  # at least one word the service reads (else: a 400)
            paths[f"/predict?text={quote(context)}&k={rng.randint(1, 10)}"] = None
    return list(paths)
