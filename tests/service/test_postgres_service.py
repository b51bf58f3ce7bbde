"""The whole service on PostgreSQL: the same jobs, models and predictions as on SQLite."""

from __future__ import annotations

import pytest

from tests.conftest import postgres_available

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not postgres_available(), reason="PostgreSQL is not reachable on 127.0.0.1:5432"
    ),
]


def test_train_and_predict_on_postgresql(service_factory, postgres_url: str) -> None:
    live = service_factory(database_url=postgres_url)
    adder = live.wait_for_job(live.train("binary_addition")["id"])
    assert adder["status"] == "succeeded", adder
    assert live.client.get("/predict", params={"a": 37, "b": 45}).json()["sum"] == 82
    words = live.wait_for_job(live.train("next_word", epochs=1)["id"], timeout=120)
    assert words["status"] == "succeeded", words
    answer = live.client.get("/predict", params={"text": "the children", "k": 3}).json()
    assert len(answer["predictions"]) == 3
    metrics = live.client.get(f"/jobs/{adder['id']}/metrics", params={"name": "accuracy"}).json()
    assert metrics["metrics"][-1]["value"] == 1.0
