"""Deleting models, jobs and corpora: what is refused, what goes with them, that no cache
serves a deleted model, and that the space comes back."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

import httpx

from tests.conftest import LiveService
from tests.service.live_databases import live, succeeded  # noqa: F401  (fixture)

TEXT = " ".join(["the cat sat on the mat and the dog sat on the log"] * 400)


def test_a_model_with_an_alias_is_kept(live: LiveService) -> None:  # noqa: F811
    job = succeeded(live)
    model_id = job["model_id"]
    live.client.put(f"/models/{model_id}/aliases/keep")
    refused = live.client.delete(f"/models/{model_id}")
    assert refused.status_code == 409
    assert "keep" in refused.json()["detail"]
    assert live.client.get(f"/models/{model_id}").status_code == 200
    assert live.client.delete(f"/models/{model_id}/aliases/keep").status_code == 204
    assert live.client.delete(f"/models/{model_id}").status_code == 204
    assert live.client.get(f"/models/{model_id}").status_code == 404
    assert live.client.get(f"/models/{model_id}/weights.npz").status_code == 404
    assert live.client.delete(f"/models/{model_id}").status_code == 404


def test_a_deleted_model_is_never_served_from_memory(live: LiveService) -> None:  # noqa: F811
    older, newer = succeeded(live)["model_id"], succeeded(live, hyperparams={"seed": 3})["model_id"]
    for model in (older, newer):  # both loaded into the web process's cache
        assert (
            live.client.get("/predict", params={"a": 1, "b": 2, "model": model}).status_code == 200
        )
    assert live.client.get("/predict", params={"a": 1, "b": 2}).json()["model_id"] == newer
    assert live.client.delete(f"/models/{newer}").status_code == 204
    gone = live.client.get("/predict", params={"a": 1, "b": 2, "model": newer})
    assert gone.status_code == 404
    assert live.client.get("/predict", params={"a": 1, "b": 2}).json()["model_id"] == older


def test_what_another_process_changes_is_served_at_once(live: LiveService) -> None:  # noqa: F811
    """Another process (a second API, an operator's SQL) deletes a model this one has loaded,
    and points `default` at another: the very next requests see both, on either database
    (the catalog's version, counted by triggers, says the snapshot is stale)."""
    older, newer = succeeded(live)["model_id"], succeeded(live, hyperparams={"seed": 4})["model_id"]
    for model in (older, newer):
        assert live.client.get("/predict", params={"a": 1, "b": 2, "model": model}).is_success
    assert live.client.get("/predict", params={"a": 1, "b": 2}).json()["model_id"] == newer

    with _other_process(live) as run:
        run(f"DELETE FROM models WHERE id = {newer}")
    gone = live.client.get("/predict", params={"a": 1, "b": 2, "model": newer})
    assert gone.status_code == 404, gone.text
    assert live.client.get("/predict", params={"a": 1, "b": 2}).json()["model_id"] == older

    newest = succeeded(live, hyperparams={"seed": 5})["model_id"]
    with _other_process(live) as run:
        run(
            "INSERT INTO model_aliases (task, alias, model_id, updated_at) "
            f"VALUES ('binary_addition', 'default', {older}, CURRENT_TIMESTAMP)"
        )
    answer = live.client.get("/predict", params={"a": 1, "b": 2}).json()
    assert (answer["model_id"], answer["model_selected_by"]) == (older, "default_alias")
    with _other_process(live) as run:
        run("DELETE FROM model_aliases WHERE alias = 'default'")
    assert live.client.get("/predict", params={"a": 1, "b": 2}).json()["model_id"] == newest


@contextlib.contextmanager
def _other_process(live: LiveService) -> Iterator[Callable[[str], object]]:  # noqa: F811
    """A connection of the test's own to the service's database, committing each statement."""
    if live.database == "sqlite":  # type: ignore[attr-defined]
        connection = sqlite3.connect(live.data_dir / "rnnlab.db", isolation_level=None)
        try:
            yield connection.execute
        finally:
            connection.close()
        return
    import psycopg

    url = live.env["RNNLAB_DATABASE_URL"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection.execute


def test_a_job_goes_with_its_metrics_once_finished_and_model_less(live: LiveService) -> None:  # noqa: F811
    job = succeeded(live)
    refused = live.client.delete(f"/jobs/{job['id']}")
    assert refused.status_code == 409
    assert f"DELETE /models/{job['model_id']}" in refused.json()["detail"]
    assert live.client.delete(f"/models/{job['model_id']}").status_code == 204
    assert live.client.delete(f"/jobs/{job['id']}").status_code == 204
    assert live.client.get(f"/jobs/{job['id']}").status_code == 404
    assert live.client.get(f"/jobs/{job['id']}/metrics").status_code == 404
    assert live.client.delete(f"/jobs/{job['id']}").status_code == 404


def test_a_running_job_cannot_be_deleted(live: LiveService) -> None:  # noqa: F811
    job = live.train(
        "binary_addition", iterations=10_000_000, stop_at_accuracy=1.0, learning_rate=1e-6
    )
    live.wait_for_job(job["id"], until=("running",))
    refused = live.client.delete(f"/jobs/{job['id']}")
    assert refused.status_code == 409
    assert "cancel it first" in refused.json()["detail"]
    live.client.post(f"/jobs/{job['id']}/cancel")
    live.wait_for_job(job["id"])
    assert live.client.delete(f"/jobs/{job['id']}").status_code == 204


def test_a_corpus_goes_once_nothing_uses_it(live: LiveService) -> None:  # noqa: F811
    corpus = live.client.post("/corpora", content=TEXT, headers={"content-type": "text/plain"})
    corpus_id = corpus.json()["id"]
    job = succeeded(
        live, "next_word", hyperparams={"corpus_id": corpus_id, "batch_size": 4, "seq_len": 5}
    )
    assert live.client.delete(f"/corpora/{corpus_id}").status_code == 409
    live.client.delete(f"/models/{job['model_id']}")
    live.client.delete(f"/jobs/{job['id']}")
    assert live.client.delete(f"/corpora/{corpus_id}").status_code == 204
    assert live.client.get(f"/corpora/{corpus_id}").status_code == 404


def test_a_deleted_id_is_never_given_again(live: LiveService) -> None:  # noqa: F811
    """Deleting the newest job, model and corpus, then making new ones: every id is new, so an
    id a client still holds (`?model=`, an alias's `previous_model_id`) never means another."""
    job = succeeded(live)
    corpus_id = live.client.post(
        "/corpora", content=TEXT, headers={"content-type": "text/plain"}
    ).json()["id"]
    assert live.client.get("/jobs", params={"limit": 1}).json()["jobs"][0]["id"] == job["id"]
    assert live.client.delete(f"/models/{job['model_id']}").status_code == 204
    assert live.client.delete(f"/jobs/{job['id']}").status_code == 204
    assert live.client.delete(f"/corpora/{corpus_id}").status_code == 204

    again = succeeded(live)
    assert again["id"] > job["id"]
    assert again["model_id"] > job["model_id"]
    new_corpus = live.client.post("/corpora", content=TEXT, headers={"content-type": "text/plain"})
    assert new_corpus.json()["id"] > corpus_id
    gone = live.client.get("/predict", params={"a": 1, "b": 2, "model": job["model_id"]})
    assert gone.status_code == 404


def _sqlite_bytes(live: LiveService) -> tuple[int, int]:  # noqa: F811
    """(pages in use x page size, free pages) of the service's SQLite file."""
    path = live.data_dir / "rnnlab.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    return pages * size, free


def test_deleting_gives_the_space_back(live: LiveService) -> None:  # noqa: F811
    if live.database != "sqlite":  # type: ignore[attr-defined]
        _postgresql_vacuums(live)
        return
    wal = live.data_dir / "rnnlab.db-wal"
    jobs = [
        succeeded(live, "next_word", hyperparams={"hidden_size": 96, "seed": s}) for s in (1, 2)
    ]
    sizes = [live.client.get(f"/models/{j['model_id']}").json()["size_bytes"] for j in jobs]
    before, _ = _sqlite_bytes(live)
    for job in jobs:
        assert live.client.delete(f"/models/{job['model_id']}").status_code == 204
        assert live.client.delete(f"/jobs/{job['id']}").status_code == 204
    after, free = _sqlite_bytes(live)
    assert free == 0
    assert before - after >= 0.9 * sum(sizes), (before, after, sizes)
    deadline = time.monotonic() + 10
    while wal.exists() and wal.stat().st_size > 4 * 2**20 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not wal.exists() or wal.stat().st_size <= 4 * 2**20


def _postgresql_vacuums(live: LiveService) -> None:  # noqa: F811
    """PostgreSQL: the same deletions, each followed by its own VACUUM of the tables."""
    import psycopg

    url = live.env["RNNLAB_DATABASE_URL"].replace("postgresql+psycopg", "postgresql")
    job = succeeded(live, "next_word", hyperparams={"hidden_size": 64})
    with psycopg.connect(url, autocommit=True) as connection:

        def last_vacuums() -> dict:
            rows = connection.execute(
                "SELECT relname, last_vacuum FROM pg_stat_user_tables "
                "WHERE relname IN ('models', 'metrics')"
            )
            return dict(rows.fetchall())

        before = last_vacuums()
        assert live.client.delete(f"/models/{job['model_id']}").status_code == 204
        assert live.client.delete(f"/jobs/{job['id']}").status_code == 204
        deadline = time.monotonic() + 10
        while (after := last_vacuums()) == before and time.monotonic() < deadline:
            time.sleep(0.2)
            connection.execute("SELECT pg_stat_clear_snapshot()")
    for table in ("models", "metrics"):
        assert after[table] is not None and after[table] != before.get(table), (table, after)


RACE_ROUNDS = 6
RACING_ALIASES = 6


def _all_at_once(live: LiveService, requests: list[tuple[str, str]]) -> list[int]:  # noqa: F811
    """The status of each (method, path), all sent at the same instant, each on its own
    connection."""
    start = threading.Barrier(len(requests))
    statuses = [0] * len(requests)

    def send(index: int, method: str, path: str) -> None:
        with httpx.Client(base_url=live.base_url, timeout=60) as client:
            start.wait()
            statuses[index] = client.request(method, path).status_code

    threads = [
        threading.Thread(target=send, args=(index, *request))
        for index, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_an_alias_racing_the_deletion_of_its_model_is_a_404_or_a_409(
    live: LiveService,  # noqa: F811
) -> None:
    """PUT /models/{id}/aliases/x sent with DELETE /models/{id}: whichever commits first wins,
    and the other is told so (404: the model is gone; 409: an alias now points at it), never
    a foreign-key 500. An alias set means the model stays."""
    jobs = [live.train("binary_addition", iterations=50, seed=seed) for seed in range(RACE_ROUNDS)]
    models = [live.wait_for_job(job["id"])["model_id"] for job in jobs]
    for model_id in models:
        puts = [("PUT", f"/models/{model_id}/aliases/race{i}") for i in range(RACING_ALIASES)]
        *aliased, deleted = _all_at_once(live, [*puts, ("DELETE", f"/models/{model_id}")])
        assert set(aliased) <= {200, 404} and deleted in (204, 409), (aliased, deleted)
        kept = live.client.get(f"/models/{model_id}")
        if deleted == 204:
            assert 200 not in aliased and kept.status_code == 404, (aliased, kept.text)
        else:
            assert sorted(kept.json()["aliases"]) == sorted(
                f"race{i}" for i, status in enumerate(aliased) if status == 200
            )
