"""Integrity tested against the check itself: the stored bytes are a *valid* npz, only one weight
differs from what was stored, so nothing but the sha256 comparison can notice. (A broken zip fails
to load with or without the check, and proves nothing about it.)"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from rnnlab.models.tasks.binary_addition.config import BinaryAdditionConfig
from rnnlab.models.tasks.binary_addition.model import BinaryAdditionNet
from rnnlab.service.errors import ModelCorrupted
from rnnlab.service.serving.model_cache import load_model
from rnnlab.service.store.blobs import CorruptBlob, arrays_to_npz, npz_to_arrays, sha256_hex
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Job, JobStatus, TrainedModel


def one_weight_changed(blob: bytes) -> bytes:
    arrays = npz_to_arrays(blob)
    name = sorted(arrays)[0]
    arrays[name].flat[0] += np.float32(0.25)
    changed = arrays_to_npz(arrays)
    assert (
        changed != blob
        and npz_to_arrays(changed)[name].flat[0] != npz_to_arrays(blob)[name].flat[0]
    )
    return changed


def test_npz_to_arrays_refuses_a_valid_npz_that_is_not_the_stored_one() -> None:
    good = arrays_to_npz({"W": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3)})
    changed = one_weight_changed(good)
    with pytest.raises(CorruptBlob, match="sha256"):
        npz_to_arrays(changed, sha256_hex(good))
    np.testing.assert_array_equal(npz_to_arrays(good, sha256_hex(good))["W"].ravel(), np.arange(6))


def store_model(db: Database, blob: bytes, sha256: str) -> int:
    with db.write() as session:
        job = Job(task="binary_addition", hyperparams={}, status=JobStatus.SUCCEEDED)
        session.add(job)
        session.flush()
        model = TrainedModel(
            job_id=job.id,
            task="binary_addition",
            hyperparams={"binary_dim": 4, "hidden_size": 3},
            metrics={},
            weights=blob,
            sha256=sha256,
            size_bytes=len(blob),
        )
        session.add(model)
        session.flush()
        return model.id


@pytest.mark.parametrize("what", ["one weight changed", "one hex digit of the sha256 changed"])
def test_load_model_refuses_weights_that_differ_from_their_sha256(migrated_db, what) -> None:
    config = BinaryAdditionConfig(binary_dim=4, hidden_size=3)
    blob = arrays_to_npz(BinaryAdditionNet(config, np.random.default_rng(0)).weights())
    good = store_model(migrated_db, blob, sha256_hex(blob))
    if what == "one weight changed":
        bad = store_model(migrated_db, one_weight_changed(blob), sha256_hex(blob))
    else:
        digest = sha256_hex(blob)
        bad = store_model(migrated_db, blob, digest[:-1] + ("0" if digest[-1] != "0" else "1"))
    with migrated_db.read() as session:
        assert load_model(session, good).model_id == good
        with pytest.raises(ModelCorrupted, match=f"model {bad}"):
            load_model(session, bad)


def test_predict_answers_409_for_a_stored_model_with_one_weight_changed(service_factory) -> None:
    live = service_factory()
    first = live.wait_for_job(live.train("binary_addition", binary_dim=4, iterations=30)["id"])
    second = live.wait_for_job(live.train("binary_addition", binary_dim=4, iterations=30)["id"])
    with sqlite3.connect(live.data_dir / "rnnlab.db") as connection:
        (blob,) = connection.execute(
            "SELECT weights FROM models WHERE id = ?", (second["model_id"],)
        ).fetchone()
        connection.execute(
            "UPDATE models SET weights = ? WHERE id = ?",
            (one_weight_changed(blob), second["model_id"]),
        )
    response = live.client.get("/predict", params={"a": 1, "b": 2})
    assert response.status_code == 409, response.text
    assert f"model {second['model_id']}" in response.json()["detail"]
    named = live.client.get("/predict", params={"a": 1, "b": 2, "model": second["model_id"]})
    assert named.status_code == 409
    # the untouched model still answers
    older = live.client.get("/predict", params={"a": 1, "b": 2, "model": first["model_id"]})
    assert older.status_code == 200 and older.json()["model_id"] == first["model_id"]
