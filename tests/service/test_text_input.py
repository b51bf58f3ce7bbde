"""Text a client sends, however odd, gets an answer that can be sent, on SQLite and PostgreSQL:
- a lone surrogate (`"\\ud800"`, which JSON can write and no database or UTF-8 encoder takes)
  anywhere in a body is a 422 saying so, and the 422 echoing it is valid UTF-8 JSON;
- NUL and the other control characters in a name, or in any filter on names, are a 422 naming
  the rule, and the published schema states that rule as a pattern."""

from __future__ import annotations

import json

import httpx

from tests.conftest import LiveService
from tests.service.live_databases import live  # noqa: F401  (the fixture, on both backends)

SURROGATE_BODIES = [
    ("/train", '{"task": "binary_addition", "name": "run \\ud800"}'),
    ("/train", '{"task": "binary_addition", "tags": ["\\udfff"]}'),
    ("/train", '{"task": "binary_addition", "hyperparams": {"activation": "\\ud800"}}'),
    ("/train", '{"task": "binary_addition", "hyperparams": {"\\ud800": 1}}'),
    ("/sweeps", '{"task": "binary_addition", "name": "\\ud83d"}'),
    ("/sweeps", '{"task": "binary_addition", "grid": {"activation": ["relu", "\\ud800"]}}'),
    ("/sweeps", '{"task": "binary_addition", "cells": [{"\\ud800": "tanh"}]}'),
    ("/sweeps", '{"task": "binary_addition", "metric": "loss\\ud800"}'),
    ("/sweeps", '{"task": "binary_addition", "early_stopping": {"metric": "\\udc00"}}'),
]
CONTROLS = ["\x00", "\x01", "\t", "\n", "\x1b", "\x7f", "\x85", "\x9f"]
NAME_FILTERS = [("/jobs", "name"), ("/models", "name"), ("/sweeps", "name")]


def strict_json(response: httpx.Response) -> object:
    """The body, read as strictly as a client in another language would: UTF-8 that decodes
    without replacement, JSON without lone-surrogate escapes."""
    body = json.loads(response.content.decode("utf-8"))
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # no string in it holds a surrogate
    return body


def _post(service: LiveService, path: str, body: str) -> httpx.Response:
    return service.client.post(path, content=body, headers={"content-type": "application/json"})


def test_a_lone_surrogate_anywhere_in_a_body_gets_a_422_saying_so(
    live: LiveService,  # noqa: F811
) -> None:
    for path, body in SURROGATE_BODIES:
        response = _post(live, path, body)
        assert response.status_code == 422, (body, response.status_code, response.text)
        detail = strict_json(response)["detail"]  # type: ignore[index]
        assert "surrogate" in json.dumps(detail), (body, detail)
    unknown_task = _post(live, "/train", '{"task": "\\ud800"}')  # one of the tasks, or 422
    assert unknown_task.status_code == 422 and strict_json(unknown_task), unknown_task.text
    assert live.client.get("/jobs").json()["count"] == 0
    assert live.client.get("/sweeps").json()["count"] == 0


def test_a_422_echoes_a_lone_surrogate_as_its_escape(
    live: LiveService,  # noqa: F811
) -> None:
    response = _post(live, "/train", '{"task": "binary_addition", "name": "\\ud800"}')
    (error,) = strict_json(response)["detail"]  # type: ignore[index]
    assert error["loc"] == ["body", "binary_addition", "name"], error
    assert error["input"] == "\\ud800", error  # six characters a reader can see


def test_control_characters_in_a_name_filter_get_a_422_naming_the_rule(
    live: LiveService,  # noqa: F811
) -> None:
    filters = [*NAME_FILTERS, ("/jobs/1/metrics", "name")]
    for path, parameter in filters:
        for control in CONTROLS:
            response = live.client.get(path, params={parameter: f"a{control}b"})
            assert response.status_code == 422, (path, repr(control), response.text)
            (error,) = response.json()["detail"]
            assert error["loc"] == ["query", parameter], error
            assert "control characters" in error["msg"], error
        plain = live.client.get(path, params={parameter: "ünï cødé ✓ 日本"})
        assert plain.status_code in (200, 404), (path, plain.text)  # 404: job 1 does not exist


def test_a_name_with_control_characters_is_refused_where_it_is_given(
    live: LiveService,  # noqa: F811
) -> None:
    for control in CONTROLS:
        for path in ("/train", "/sweeps"):
            body = json.dumps({"task": "binary_addition", "name": f"a{control}b"})
            response = _post(live, path, body)
            assert response.status_code == 422, (path, repr(control), response.text)
            assert "control characters" in response.json()["detail"][0]["msg"]
        corpus = live.client.post(
            "/corpora", params={"name": f"a{control}b"}, content="the cat sat on the mat " * 50
        )
        assert corpus.status_code == 422, (repr(control), corpus.text)


def test_the_schema_states_what_every_text_query_parameter_accepts(
    live: LiveService,  # noqa: F811
) -> None:
    """Every string a query or a path takes is an enum or has a pattern, and each filter on
    names has the one refusing control characters."""
    schema = live.client.get("/openapi.json").json()
    unbounded = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                for member in parameter["schema"].get("anyOf", [parameter["schema"]]):
                    if member.get("type") == "string" and not (
                        "pattern" in member or "enum" in member
                    ):
                        unbounded.append(f"{method} {path} {parameter['name']}")
    assert not unbounded, unbounded
    for path, parameter in NAME_FILTERS:
        (name,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == parameter]
        (text,) = [m for m in name["schema"]["anyOf"] if m.get("type") == "string"]
        assert text["pattern"] == r"^[^\x00-\x1f\x7f-\x9f]*$", (path, text)
