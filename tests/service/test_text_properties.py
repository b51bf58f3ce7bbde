"""Arbitrary Unicode in every text field of every route the published OpenAPI schema lists,
on SQLite and on PostgreSQL: lone surrogates, NUL and the other controls, TeX, the longest and
the empty string, in each body string, map key, query and path parameter in turn. Each answer
is a 2xx or a 4xx, never a 5xx; its JSON is well-formed UTF-8 with no string a client could
not encode; an SVG served is well-formed XML (a sweep's plot is drawn for every name accepted).

The fields are read from the schema itself, so a route or a field added later is covered
without a change here."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import LiveService
from tests.service.live_databases import POSTGRES, service_on

# Every code point, surrogates and controls included, and the texts most likely to break one
ANY_TEXT = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=30),
    st.sampled_from(["", "\x00", "\ud800", "a\udfffb", "$\\foo$", "<!--", "\t\n", "é" * 300]),
)
# Small enough for one backend's run to stay well under a minute
EXAMPLES = 15
KEY = object()  # in a path through a body: an arbitrary key of a map
NO_KEY = object()  # the text is a value
BASE_HYPERPARAMS = {
    "binary_addition": {"iterations": 1},
    "next_word": {"epochs": 1, "hidden_size": 8, "embedding_size": 8},
}


@dataclass(frozen=True)
class Slot:
    """One text field: where in the request a drawn text goes."""

    method: str
    path: str
    place: str  # "query", "path", "json" (a JSON body) or "body" (a text/plain one)
    where: tuple  # the parameter's name, or the keys down a JSON body
    base: Any = None  # the valid body the text is put into
    beside: Any = NO_KEY  # when the text is a map's key: the value it is given


def _resolve(schema: dict, components: dict) -> dict:
    ref = schema.get("$ref")
    return components[ref.rsplit("/", 1)[-1]] if ref else schema


def string_paths(schema: dict, components: dict, where: tuple = ()) -> Iterator[tuple]:
    """(keys down the body, the value beside it when the text is a map's key, else NO_KEY) of
    every place a JSON body schema holds a string."""
    schema = _resolve(schema, components)
    for member in schema.get("anyOf", []) + schema.get("oneOf", []):
        yield from string_paths(member, components, where)
    if schema.get("type") == "string":
        yield where, NO_KEY
    for name, field in schema.get("properties", {}).items():
        yield from string_paths(field, components, (*where, name))
    if "items" in schema:
        yield from string_paths(schema["items"], components, (*where, 0))
    maps = [*schema.get("patternProperties", {}).values(), schema.get("additionalProperties")]
    for values in maps:
        if isinstance(values, dict):
            yield (*where, KEY), [1] if values.get("type") == "array" else 1
            yield from string_paths(values, components, (*where, KEY))


def _base_body(member: dict) -> dict:
    task = member.get("properties", {}).get("task", {})
    name = task.get("const") or task.get("enum", ["binary_addition"])[0]
    return {"task": name, "hyperparams": dict(BASE_HYPERPARAMS[name])}


def text_slots(schema: dict) -> list[Slot]:
    components = schema["components"]["schemas"]
    slots = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                members = parameter["schema"].get("anyOf", [parameter["schema"]])
                if parameter["in"] in ("query", "path") and any(
                    m.get("type") == "string" for m in members
                ):
                    slots.append(Slot(method, path, parameter["in"], (parameter["name"],)))
            content = operation.get("requestBody", {}).get("content", {})
            if "text/plain" in content:
                slots.append(Slot(method, path, "body", ()))
            if "application/json" in content:
                body = _resolve(content["application/json"]["schema"], components)
                for member in body.get("oneOf", [body]):
                    member = _resolve(member, components)
                    base = _base_body(member)
                    for where, beside in string_paths(member, components):
                        slots.append(Slot(method, path, "json", where, base, beside))
    return slots


def _put(body: Any, where: tuple, text: str, beside: Any) -> Any:
    """`body` with `text` at `where`, containers made on the way; the last map's key when
    `beside` is its value, else a value (under a hyperparameter's name in a map)."""
    if not where:
        return text
    first, rest = where[0], where[1:]
    if first == 0:
        return [_put(None, rest, text, beside)]
    body = dict(body) if isinstance(body, dict) else {}
    if first is KEY and not rest and beside is not NO_KEY:
        body[text] = beside
    elif first is KEY:
        body["activation"] = _put(None, rest, text, beside)
    else:
        body[first] = _put(body.get(first), rest, text, beside)
    return body


def _url(slot: Slot, text: str, ids: dict[str, int]) -> str:
    """The request's path and query, the text percent-encoded from its UTF-8 (a lone surrogate
    as the three bytes it would be: invalid UTF-8, which the server must refuse or read)."""
    encoded = quote(text.encode("utf-8", "surrogatepass"), safe="")
    values = {"alias": "champion", **{name: str(value) for name, value in ids.items()}}
    if slot.place == "path":
        values[slot.where[0]] = encoded
    url = slot.path.format(**values)
    return f"{url}?{slot.where[0]}={encoded}" if slot.place == "query" else url


def send(live: LiveService, slot: Slot, text: str, ids: dict[str, int]) -> httpx.Response:
    url = _url(slot, text, ids)
    if slot.place == "json":
        body = json.dumps(_put(slot.base, slot.where, text, slot.beside))  # \\ud800 escapes
        headers = {"content-type": "application/json"}
        return live.client.request(slot.method, url, content=body, headers=headers)
    if slot.place == "body":  # a corpus: the text as UTF-8 bytes, whatever they make
        content = text.encode("utf-8", "surrogatepass")
        return live.client.request(slot.method, url, content=content)
    return live.client.request(slot.method, url)


def check(response: httpx.Response, slot: Slot, text: str) -> None:
    case = f"{slot.method.upper()} {slot.path} {slot.place} {slot.where} = {text!r}"
    assert 200 <= response.status_code < 500, (case, response.status_code, response.text[:300])
    kind = response.headers.get("content-type", "")
    if response.status_code >= 400 or kind.startswith("application/json"):
        assert kind.startswith("application/json"), (case, kind)
        body = json.loads(response.content.decode("utf-8"))  # strict UTF-8
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # no surrogate in any string
    elif kind.startswith("image/svg+xml"):
        ElementTree.fromstring(response.content)


@pytest.fixture(scope="module", params=["sqlite", POSTGRES])
def fuzzed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveService, dict[str, int]]]:
    """A service with a job, a model of each task and a sweep, whose queue holds few jobs:
    the texts a job accepts queue cheap runs, then 429s."""
    data_dir = tmp_path_factory.mktemp(request.param)
    with service_on(request.param, data_dir, max_queued_jobs="2") as live:
        words = live.train("next_word", **BASE_HYPERPARAMS["next_word"])
        binary = live.train("binary_addition", iterations=20)
        for job in (words, binary):
            assert live.wait_for_job(job["id"])["status"] == "succeeded"
        sweep = live.client.post("/sweeps", json=_base_body({}))
        assert sweep.status_code == 202, sweep.text
        model = live.wait_for_job(binary["id"])["model_id"]
        ids = {"job_id": binary["id"], "model_id": model, "sweep_id": sweep.json()["id"]}
        yield live, {**ids, "corpus_id": 1}


@given(data=st.data())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_every_text_field_answers_2xx_or_4xx_with_json_that_can_be_read(
    fuzzed: tuple[LiveService, dict[str, int]], data: st.DataObject
) -> None:
    live, ids = fuzzed
    slots = text_slots(_schema(live))
    for slot in slots:
        text = data.draw(ANY_TEXT, label=f"{slot.method} {slot.path} {slot.where}")
        response = send(live, slot, text, ids)
        check(response, slot, text)
        if (slot.path, response.status_code) == ("/sweeps", 202):
            plot = live.client.get(f"/sweeps/{response.json()['id']}/plot.svg")
            check(plot, slot, text)
            assert plot.status_code == 200, plot.text


_schemas: dict[str, dict] = {}


def _schema(live: LiveService) -> dict:
    if live.base_url not in _schemas:
        _schemas[live.base_url] = live.client.get("/openapi.json").json()
    return _schemas[live.base_url]


def test_the_fields_are_read_from_the_schema() -> None:
    """The walk finds the text fields of the bodies, keys of maps included."""
    from rnnlab.service.app import create_app

    slots = text_slots(create_app().openapi())
    found = {(slot.path, slot.place, slot.where, slot.beside is not NO_KEY) for slot in slots}
    for expected in [
        ("/train", "json", ("name",), False),
        ("/train", "json", ("tags", 0), False),
        ("/train", "json", ("hyperparams", "activation"), False),
        ("/sweeps", "json", ("grid", KEY), True),
        ("/sweeps", "json", ("cells", 0, KEY), False),
        ("/sweeps", "json", ("early_stopping", "metric"), False),
        ("/jobs", "query", ("name",), False),
        ("/models/{model_id}/aliases/{alias}", "path", ("alias",), False),
        ("/corpora", "body", (), False),
    ]:
        assert expected in found, (expected, sorted(map(str, found)))
    assert len(slots) >= 40, len(slots)
