"""docs/keras_table.py, the README's table of the notes' Keras protocol, with one seed: its sweep
is accepted as it is, runs both cells on a fixed training set and ranks them by per-bit test
accuracy, and the table it prints has a row per cell beside the notes' figures."""

from __future__ import annotations

import importlib.util
import time

from tests.conftest import REPO, LiveService


def keras_table():
    spec = importlib.util.spec_from_file_location("keras_table", REPO / "docs" / "keras_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_keras_protocol_table_in_one_call(service: LiveService) -> None:
    script = keras_table()
    body = script.sweep_body(service.base_url, seeds=1)
    assert body["hyperparams"]["train_samples"] == 10_000 and body["hyperparams"]["epochs"] == 5
    answer = service.client.post("/sweeps", json=body)
    assert answer.status_code == 202, answer.text
    deadline = time.monotonic() + 300
    while (sweep := service.client.get(f"/sweeps/{answer.json()['id']}").json())["status"] not in (
        "finished",
        "cancelled",
    ):
        assert time.monotonic() < deadline, sweep
        time.sleep(0.5)
    assert sweep["counts"]["succeeded"] == 2 and sweep["ranked_by"] == "test_bit_accuracy"
    for cell in sweep["cells"]:
        assert 0.5 <= cell["metrics"]["test_bit_accuracy"]["mean"] <= 1
    rows = script.table(sweep, body["hyperparams"]).splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == ["| rnn", "| lstm"]
    assert "| 0.733 |" in rows[0] and "| 0.87 |" in rows[1]
