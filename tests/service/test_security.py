"""API key, weight integrity, no pickle anywhere, and error bodies without internals."""

from __future__ import annotations

import io
import re
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rnnlab.service.store.blobs import CorruptBlob, arrays_to_npz, npz_to_arrays, sha256_hex
from tests.conftest import REPO, LiveService

KEY = "s3cret-key"


def test_api_key_guards_mutations_and_leaves_reads_open(service_factory) -> None:
    live = service_factory(api_key=KEY)
    body = {"task": "binary_addition", "hyperparams": {}}
    missing = live.client.post("/train", json=body)
    assert missing.status_code == 401
    assert "X-API-Key" in missing.json()["detail"]
    assert live.client.post("/train", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
    assert (
        live.client.post(
            "/corpora", content="a b c", headers={"content-type": "text/plain"}
        ).status_code
        == 401
    )
    assert live.client.post("/jobs/1/cancel").status_code == 401
    bearer = live.client.post("/train", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 202
    header = live.client.post("/train", json=body, headers={"X-API-Key": KEY})
    assert header.status_code == 202
    assert live.client.get("/jobs").status_code == 200  # reads stay open
    assert live.client.get("/healthz").status_code == 200


def test_protect_reads_guards_reads_too_but_not_health(service_factory) -> None:
    live = service_factory(api_key=KEY, protect_reads="true")
    assert live.client.get("/jobs").status_code == 401
    assert live.client.get("/predict", params={"a": 1, "b": 2}).status_code == 401
    assert live.client.get("/jobs", headers={"X-API-Key": KEY}).status_code == 200
    assert live.client.get("/healthz").status_code == 200


def test_a_corrupted_weight_blob_is_detected_and_named(service_factory) -> None:
    live = service_factory()
    job = live.wait_for_job(live.train("binary_addition")["id"])
    model_id = job["model_id"]
    with sqlite3.connect(live.data_dir / "rnnlab.db") as connection:
        (blob,) = connection.execute(
            "SELECT weights FROM models WHERE id = ?", (model_id,)
        ).fetchone()
        flipped = bytes([blob[0]]) + bytes([blob[1] ^ 0xFF]) + blob[2:]
        connection.execute("UPDATE models SET weights = ? WHERE id = ?", (flipped, model_id))
    response = live.client.get("/predict", params={"a": 1, "b": 2})
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert f"model {model_id}" in detail and "train it again" in detail
    assert live.client.get("/healthz").status_code == 200


def test_object_arrays_are_refused_never_unpickled() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.array([{"evil": 1}], dtype=object))
    planted = buffer.getvalue()
    with pytest.raises(CorruptBlob, match="plain-array"):
        npz_to_arrays(planted, sha256_hex(planted))
    good = arrays_to_npz({"w": np.ones(3, np.float32)})
    with pytest.raises(CorruptBlob, match="sha256"):
        npz_to_arrays(good, "0" * 64)
    assert npz_to_arrays(good, sha256_hex(good))["w"].dtype == np.float32


def test_no_pickle_anywhere_in_the_code() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    pattern = re.compile(r"\bpickle\b|allow_pickle\s*=\s*True")
    offenders = []
    for name in tracked:
        if name == "tests/service/test_security.py":
            continue  # this file names what it forbids
        text = (REPO / name).read_text()
        offenders += [
            f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if pattern.search(line)
        ]
    assert tracked and offenders == []
    assert not any(Path(name).suffix in (".pkl", ".pickle") for name in tracked)


def test_errors_are_json_detail_without_internals(service: LiveService) -> None:
    responses = [
        service.client.get("/jobs/not-a-number"),
        service.client.get("/no/such/path"),
        service.client.post(
            "/train", content=b"{not json", headers={"content-type": "application/json"}
        ),
        service.client.get("/predict", params={"a": "1e999", "b": 1}),
        service.client.get("/jobs/99999999999999999999999"),
    ]
    for response in responses:
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert "detail" in response.json()
        assert "Traceback" not in response.text and "/work/" not in response.text
        assert "SELECT" not in response.text
        assert response.headers["x-request-id"]


def test_request_ids_are_echoed(service: LiveService) -> None:
    response = service.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
