"""The documentation pages over plain HTTP: every asset they load comes from the service itself,
`/` leads to them, and the schema they render carries real examples, not "string"."""

from __future__ import annotations

import re

from pydantic import BaseModel

from rnnlab.service.schemas import examples
from rnnlab.service.schemas import resources as schemas
from tests.conftest import LiveService

ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def assets_of(html: str) -> list[str]:
    return ASSET.findall(html)


def test_docs_and_redoc_load_their_assets_from_the_service(service: LiveService) -> None:
    for page in ("/docs", "/redoc"):
        response = service.client.get(page)
        assert response.status_code == 200
        urls = assets_of(response.text)
        assert urls, f"{page} loads no script or stylesheet:\n{response.text}"
        # No page may reach outside: no absolute URL, and no Google fonts in ReDoc.
        assert not re.search(r"https?://", response.text), response.text
        for url in urls:
            asset = service.client.get(url)
            assert asset.status_code == 200, (page, url)
            assert len(asset.content) > 1000 or url.endswith(".png"), (page, url)


def test_the_dashboard_at_the_root_links_to_the_docs(service: LiveService) -> None:
    response = service.client.get("/", follow_redirects=False)
    assert response.status_code == 200
    assert 'href="/docs"' in response.text


def test_the_doc_pages_are_not_operations_of_the_api(service: LiveService) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    assert not {"/", "/docs", "/redoc"} & paths.keys()
    assert not any(path.startswith("/docs/") for path in paths)


def response_example(schema: dict, path: str, method: str, code: str) -> dict:
    """The example Swagger UI shows for one response: the media type's own, else the schema's."""
    content = schema["paths"][path][method]["responses"][code]["content"]["application/json"]
    if "example" in content:
        return content["example"]
    ref = content["schema"]
    if "$ref" in ref:
        ref = schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]
    return ref["examples"][0]


def test_responses_show_real_examples(service: LiveService) -> None:
    schema = service.client.get("/openapi.json").json()
    job = response_example(schema, "/jobs/{job_id}", "get", "200")
    assert job["status"] == "succeeded" and job["model_id"] == job["id"]
    prediction = schema["paths"]["/predict"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    names = {ref["$ref"].rsplit("/", 1)[-1] for ref in prediction["anyOf"]}
    assert names == {"BinaryAdditionPrediction", "NextWordPrediction"}
    components = schema["components"]["schemas"]
    binary = components["BinaryAdditionPrediction"]["examples"][0]
    assert binary["sum"] == int("".join(map(str, binary["bits"])), 2)
    next_word = components["NextWordPrediction"]["examples"][0]
    assert next_word["predictions"][0]["word"] and next_word["context"]
    generation = response_example(schema, "/generate", "get", "200")
    assert generation["text"].endswith(" ".join(generation["continuation"]))


def test_error_responses_show_the_message_the_service_sends(service: LiveService) -> None:
    schema = service.client.get("/openapi.json").json()
    documented = response_example(schema, "/jobs/{job_id}", "get", "404")
    sent = service.client.get("/jobs/2147483647").json()
    assert documented["detail"] == sent["detail"].replace("2147483647", "7")
    corpus = response_example(schema, "/corpora/{corpus_id}", "get", "404")
    assert corpus["detail"].startswith("corpus 7 does not exist")
    assert "already queued" in response_example(schema, "/train", "post", "429")["detail"]
    # 400 comes from below the application (the HTTP parser), 422 from validation too: both
    # keep the body their own layer gives them.
    for item in schema["paths"].values():
        for operation in item.values():
            for code, response in operation["responses"].items():
                if code.startswith("4") and code not in ("400", "422"):
                    assert "content" in response, (operation["summary"], code)


def shown_models() -> list[type[BaseModel]]:
    return [
        model
        for model in vars(schemas).values()
        if isinstance(model, type)
        and issubclass(model, BaseModel)
        and "json_schema_extra" in model.model_config
    ]


def test_every_example_is_a_valid_answer_with_every_field() -> None:
    assert len(shown_models()) >= 12
    for model in shown_models():
        extra = model.model_config["json_schema_extra"]
        assert isinstance(extra, dict)
        for example in extra["examples"]:
            parsed = model.model_validate(example)
            assert parsed.model_dump(mode="json").keys() == example.keys(), model.__name__


def test_examples_have_the_fields_of_real_answers(service: LiveService) -> None:
    job = service.wait_for_job(service.train("binary_addition")["id"])
    assert job.keys() == examples.JOB.keys()
    assert job["hyperparams"].keys() == examples.BINARY_ADDITION_HYPERPARAMS.keys()
    binary = service.client.get("/predict", params={"a": 37, "b": 45, "model_id": job["model_id"]})
    assert binary.json().keys() == examples.BINARY_ADDITION_PREDICTION.keys()
    job = service.wait_for_job(service.train("next_word", epochs=1)["id"], timeout=120)
    query = {"text": "the children", "model_id": job["model_id"]}
    next_word = service.client.get("/predict", params={**query, "k": 3}).json()
    assert next_word.keys() == examples.NEXT_WORD_PREDICTION.keys()
    generation = service.client.get("/generate", params={**query, "words": 5}).json()
    assert generation.keys() == examples.GENERATION.keys()
