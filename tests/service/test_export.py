"""Export: the stored weights as npz, and ONNX graphs that onnxruntime runs to the same
probabilities as /predict, for every cell type, 1-3 layers, peepholes, tied weights and both
tasks."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from rnnlab.models.text import preprocess
from tests.conftest import LiveService, start_service

ort = pytest.importorskip("onnxruntime")

BINARY = [{"cell": c, "num_layers": n} for c in ("rnn", "lstm", "gru") for n in (1, 2, 3)]
BINARY += [{"cell": "rnn", "activation": a, "bias": False} for a in ("sigmoid", "relu")]
WORDS = [{"cell": c, "num_layers": n} for c in ("rnn", "lstm", "gru") for n in (1, 2, 3)]
WORDS += [{"cell": "lstm", "num_layers": n, "peephole": True} for n in (1, 2)]
# the output layer's matrix is the embedding's (embedding_size = hidden_size)
TIED = [
    {"cell": c, "num_layers": 2, "embedding_size": 12, "tie_weights": True} for c in ("lstm", "gru")
]
WORDS += TIED
SMALL_WORDS = {"epochs": 1, "hidden_size": 12, "embedding_size": 6, "batch_size": 8, "seq_len": 8}
CONTEXTS = ["the children", "it was the", "and", "once upon a time there was a"]


def _name(params: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in params.items())


@pytest.fixture(scope="module")
def models(service: LiveService) -> dict[str, int]:
    """One small trained model per configuration, all queued at once."""
    jobs = {}
    for params in BINARY:
        jobs["binary:" + _name(params)] = service.train("binary_addition", iterations=40, **params)
    for params in WORDS:
        jobs["words:" + _name(params)] = service.train("next_word", **{**SMALL_WORDS, **params})
    found = {}
    for key, job in jobs.items():
        done = service.wait_for_job(job["id"], timeout=300)
        assert done["status"] == "succeeded", done
        found[key] = done["model_id"]
    return found


def _session(service: LiveService, model_id: int):
    response = service.client.get(f"/models/{model_id}/model.onnx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/onnx"
    assert response.headers["x-content-sha256"] == hashlib.sha256(response.content).hexdigest()
    return ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("params", BINARY, ids=_name)
def test_binary_addition_onnx_matches_predict(service: LiveService, models, params) -> None:
    model_id = models["binary:" + _name(params)]
    session = _session(service, model_id)
    pairs = [(0, 0), (37, 45), (127, 127), (1, 126), (99, 3)]
    a, b = (np.array(x, np.int64) for x in zip(*pairs, strict=True))
    sums, bits, probabilities = session.run(["sum", "bits", "probabilities"], {"a": a, "b": b})
    for i, (x, y) in enumerate(pairs):
        answer = service.client.get("/predict", params={"a": x, "b": y, "model": model_id}).json()
        np.testing.assert_allclose(probabilities[i], answer["probabilities"], rtol=1e-4, atol=1e-6)
        assert bits[i].tolist() == answer["bits"]
        assert int(sums[i]) == answer["sum"]


@pytest.mark.parametrize("params", WORDS, ids=_name)
def test_next_word_onnx_matches_predict(service: LiveService, models, params) -> None:
    model_id = models["words:" + _name(params)]
    session = _session(service, model_id)
    metadata = session.get_modelmeta().custom_metadata_map
    words = json.loads(metadata["rnnlab.dictionary"])
    assert words[0] == metadata["rnnlab.unknown_token"]
    assert json.loads(metadata["rnnlab.hyperparams"])["cell"] == params["cell"]
    index = {word: i for i, word in enumerate(words)}
    for text in CONTEXTS:
        ids = np.array([[index.get(w, 0) for w in preprocess(text)]], np.int64)
        (probabilities,) = session.run(["probabilities"], {"ids": ids})
        answer = service.client.get(
            "/predict", params={"text": text, "k": 10, "model": model_id}
        ).json()
        for prediction in answer["predictions"]:
            expected = prediction["probability"]
            got = probabilities[0, index[prediction["word"]]]
            assert got == pytest.approx(expected, rel=1e-4, abs=1e-6), (text, prediction)


def test_a_batch_of_contexts_of_one_length(service: LiveService, models) -> None:
    session = _session(service, models["words:" + _name(WORDS[4])])
    ids = np.array([[1, 2, 3], [3, 2, 1]], np.int64)
    (probabilities,) = session.run(["probabilities"], {"ids": ids})
    assert probabilities.shape[0] == 2
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_weights_npz_are_the_stored_bytes(service: LiveService, models) -> None:
    model_id = models["binary:" + _name(BINARY[0])]
    model = service.client.get(f"/models/{model_id}").json()
    response = service.client.get(f"/models/{model_id}/weights.npz")
    assert response.status_code == 200
    assert response.headers["x-content-sha256"] == model["sha256"]
    assert hashlib.sha256(response.content).hexdigest() == model["sha256"]
    assert len(response.content) == model["size_bytes"]
    assert response.headers["content-disposition"] == f'attachment; filename="model-{model_id}.npz"'
    with np.load(io.BytesIO(response.content), allow_pickle=False) as archive:
        assert {"rnn0.Wx", "rnn0.Wh", "out.W"} <= set(archive.files)


def test_a_tied_model_stores_its_shared_matrix_once(service: LiveService, models) -> None:
    response = service.client.get(f"/models/{models['words:' + _name(TIED[0])]}/weights.npz")
    assert response.status_code == 200
    with np.load(io.BytesIO(response.content), allow_pickle=False) as archive:
        assert {"embed.W", "out.b"} <= set(archive.files)
        assert "out.W" not in archive.files
        assert archive["embed.W"].shape[1] == 12


def test_tied_weights_with_other_sizes_are_refused(service: LiveService) -> None:
    hyperparams = {"tie_weights": True, "embedding_size": 6, "hidden_size": 12}
    response = service.client.post("/train", json={"task": "next_word", "hyperparams": hyperparams})
    assert response.status_code == 422, response.text
    detail = str(response.json()["detail"])
    assert "embedding_size (6) must equal the last recurrent layer's hidden_size (12)" in detail
    assert "tie_weights to false" in detail


@pytest.mark.parametrize("suffix", ["weights.npz", "model.onnx"])
def test_export_of_a_missing_model_is_404(service: LiveService, suffix: str) -> None:
    assert service.client.get(f"/models/{2**31 - 1}/{suffix}").status_code == 404
    assert service.client.get(f"/models/0/{suffix}").status_code == 422


def test_onnx_answers_501_with_how_to_install_when_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = tmp_path / "without-onnx"
    (shim / "onnx").mkdir(parents=True)
    (shim / "onnx" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'onnx'\", name='onnx')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(shim))  # found before the installed package
    live = start_service(tmp_path / "data")
    try:
        job = live.wait_for_job(live.train("binary_addition", iterations=5)["id"])
        response = live.client.get(f"/models/{job['model_id']}/model.onnx")
        assert response.status_code == 501
        assert "pip install 'rnnlab[onnx]'" in response.json()["detail"]
        assert live.client.get(f"/models/{job['model_id']}/weights.npz").status_code == 200
        # a model that does not exist is a 404 all the same: installing onnx would not help
        missing = live.client.get(f"/models/{job['model_id'] + 1000}/model.onnx")
        assert missing.status_code == 404, missing.text
    finally:
        live.stop()
