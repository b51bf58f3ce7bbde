"""/docs and /openapi.json load, and every operation is documented."""

from __future__ import annotations

from tests.conftest import LiveService

CONTRACT = {
    ("post", "/train"),
    ("get", "/jobs"),
    ("get", "/jobs/{job_id}"),
    ("post", "/jobs/{job_id}/cancel"),
    ("get", "/jobs/{job_id}/metrics"),
    ("post", "/corpora"),
    ("get", "/corpora"),
    ("get", "/corpora/{corpus_id}"),
    ("get", "/models"),
    ("get", "/models/{model_id}"),
    ("get", "/predict"),
    ("get", "/generate"),
    ("get", "/healthz"),
    ("get", "/jobs/{job_id}/events"),
    ("get", "/events"),
    ("get", "/jobs/{job_id}/plot.svg"),
    ("get", "/jobs/{job_id}/plot.png"),
    ("get", "/plots/compare.svg"),
    ("post", "/sweeps"),
    ("get", "/sweeps"),
    ("get", "/sweeps/{sweep_id}"),
    ("get", "/sweeps/{sweep_id}/plot.svg"),
    ("post", "/sweeps/{sweep_id}/cancel"),
    ("put", "/models/{model_id}/aliases/{alias}"),
    ("delete", "/models/{model_id}/aliases/{alias}"),
    ("delete", "/models/{model_id}"),
    ("delete", "/jobs/{job_id}"),
    ("delete", "/corpora/{corpus_id}"),
    ("get", "/models/{model_id}/weights.npz"),
    ("get", "/models/{model_id}/model.onnx"),
}
NON_JSON = {"text/event-stream", "image/svg+xml", "image/png", "text/plain; version=0.0.4"}


def test_docs_page_loads(service: LiveService) -> None:
    response = service.client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_every_operation_has_a_summary_a_description_and_typed_responses(
    service: LiveService,
) -> None:
    schema = service.client.get("/openapi.json").json()
    operations = {
        (method, path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert operations.keys() >= CONTRACT
    for key, operation in operations.items():
        assert operation.get("summary"), key
        assert operation.get("description"), key
        success = next(code for code in operation["responses"] if code.startswith("2"))
        if success == "204":
            continue
        content = operation["responses"][success]["content"]
        if "application/json" in content:
            assert content["application/json"]["schema"], key
        else:  # event streams, pictures and file downloads say what they send
            described = all(media.get("schema") for media in content.values())
            assert content and (content.keys() & NON_JSON or described), key


def test_train_documents_the_default_body_as_an_example(service: LiveService) -> None:
    schema = service.client.get("/openapi.json").json()
    examples = schema["paths"]["/train"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    default = examples["binary_addition"]["value"]
    assert default["task"] == "binary_addition"
    assert default["hyperparams"]["binary_dim"] == 8
