"""The published OpenAPI schema is the contract: walked bound by bound, a value at each
documented bound is accepted and one past it is refused with a 422 naming the field.

Every hyperparameter of both tasks, and every bounded query and path parameter (/predict,
/generate, /corpora, /jobs, ...). Jobs submitted at a bound stay queued behind a job that keeps
the only worker busy, and are cancelled at once: none of them trains.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rnnlab.service.schemas.text import NO_CONTROL, NO_NUL
from tests.conftest import LiveService, start_service

BUSY = {"iterations": 10_000_000, "learning_rate": 1e-9}
# ~110,000 tokens: enough windows for batch_size 4096, seq_len 1000 and test_fraction 0.9.
LONG_TEXT = "the cat sat on the mat and the dog sat on the log " * 10_000
# At a bound: no such row, 404.
ID_PARAMETERS = {"model", "corpus_id", "job_id", "model_id", "sweep_id", "init_from_model"}


def _step(kind: str, x: float, towards: float) -> float:
    """The next value from `x` towards +-inf: the next integer, or the next float64."""
    return x + (1 if towards > 0 else -1) if kind == "integer" else math.nextafter(x, towards)


def bound_cases(schema: dict[str, Any], components: dict[str, Any]) -> Iterator[tuple]:
    """(value at the bound, value past it, which bound) for each bound `schema` documents."""
    for member in schema.get("anyOf", [schema]):
        member = components.get(member.get("$ref", "").rsplit("/", 1)[-1], member)
        kind = member.get("type")
        if kind in ("integer", "number"):
            if kind == "integer":  # FastAPI writes integer bounds as 32.0; 32.0 is no integer
                member = {k: int(v) if "imum" in k else v for k, v in member.items()}
            up, down = math.inf, -math.inf
            if "minimum" in member:
                yield member["minimum"], _step(kind, member["minimum"], down), "minimum"
            if "maximum" in member:
                yield member["maximum"], _step(kind, member["maximum"], up), "maximum"
            if "exclusiveMinimum" in member:
                low = member["exclusiveMinimum"]
                yield _step(kind, low, up), low, "exclusiveMinimum"
            if "exclusiveMaximum" in member:
                high = member["exclusiveMaximum"]
                yield _step(kind, high, down), high, "exclusiveMaximum"
        elif kind == "string" and member.get("pattern", NO_NUL) in (NO_NUL, NO_CONTROL):
            # Free text only: no generic filler matches a structured pattern (event ids, lists
            # of ids), which validation enforces and the parameter's own tests try.
            if member.get("minLength"):
                n = member["minLength"]
                yield "a" * n, "a" * (n - 1), "minLength"
            if "maxLength" in member:
                n = member["maxLength"]
                yield "a" * n, "a" * (n + 1), "maxLength"


def names_the_field(response: httpx.Response, name: str) -> bool:
    if response.status_code != 422:
        return False
    detail = response.json()["detail"]
    return isinstance(detail, list) and any(error["loc"][-1] == name for error in detail)


def check_bound(response: httpx.Response, name: str, accepted: bool, case: str) -> None:
    if accepted:
        # Past the bound checks a value may still name nothing (no such row: 404) or mean
        # nothing (jobs=aaa: a 422 whose message says so): neither is a bound refusing it.
        semantic = response.status_code == 422 and isinstance(response.json()["detail"], str)
        ok = (
            response.status_code < 300
            or semantic
            or (name in ID_PARAMETERS and response.status_code in (404, 409, 422))
        )
        assert ok and not names_the_field(response, name), (case, response.text[:500])
    else:
        assert names_the_field(response, name), (case, response.status_code, response.text[:500])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    service = start_service(
        tmp_path_factory.mktemp("contract"),
        job_memory_budget=str(2**50),  # a job at every bound at once is queued, never run
        max_upload_bytes=str(2**21),
    )
    try:
        ids = {
            "binary": service.train("binary_addition", binary_dim=32, iterations=1)["id"],
            "words": service.train("next_word", epochs=1)["id"],
        }
        models = {key: service.wait_for_job(job)["model_id"] for key, job in ids.items()}
        corpus = service.client.post("/corpora", content=LONG_TEXT).json()["id"]
        busy = service.train("binary_addition", **BUSY)
        service.wait_for_job(busy["id"], until=("running",))
        sweep = service.client.post(
            "/sweeps",
            json={"task": "binary_addition", "hyperparams": {"iterations": 1}, "seeds": [0]},
        )
        assert sweep.status_code == 202, sweep.text
        sweep_id = sweep.json()["id"]
        yield {
            "service": service,
            "models": models,
            "corpus": corpus,
            "job": busy["id"],
            "sweep": sweep_id,
        }
        service.client.post(f"/sweeps/{sweep_id}/cancel")
        service.client.post(f"/jobs/{busy['id']}/cancel")
    finally:
        service.stop()


def _train(live: dict[str, Any], task: str, hyperparams: dict[str, Any]) -> httpx.Response:
    service: LiveService = live["service"]
    if task == "next_word":
        hyperparams = {"corpus_id": live["corpus"], **hyperparams}
    response = service.client.post("/train", json={"task": task, "hyperparams": hyperparams})
    if response.status_code == 202:
        service.client.post(f"/jobs/{response.json()['id']}/cancel")
    return response


@pytest.mark.parametrize("task", ["binary_addition", "next_word"])
def test_every_hyperparameter_bound_is_the_enforced_one(live: dict[str, Any], task: str) -> None:
    schema = live["service"].client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    name = {"binary_addition": "BinaryAdditionHyperparams", "next_word": "NextWordHyperparams"}
    properties = components[name[task]]["properties"]
    walked = 0
    for field, field_schema in properties.items():
        for inside, outside, bound in bound_cases(field_schema, components):
            case = f"{task}.{field} {bound}"
            check_bound(_train(live, task, {field: inside}), field, True, f"{case} = {inside}")
            check_bound(_train(live, task, {field: outside}), field, False, f"{case} = {outside}")
            walked += 1
    assert walked >= 20, walked


def _query_base(live: dict[str, Any], path: str, parameter: str) -> dict[str, Any]:
    """A query that is valid apart from `parameter`, for each operation that needs one."""
    models = live["models"]
    if path == "/predict":
        if parameter in ("a", "b", "model"):
            return {"a": 1, "b": 1, "model": models["binary"]}
        return {"text": "the cat", "model": models["words"]}
    if path == "/generate":
        return {"text": "the cat", "words": 2, "model": models["words"]}
    return {}


def _request(
    live: dict[str, Any], method: str, path: str, params: dict, paths: dict, headers: dict
) -> Any:
    service: LiveService = live["service"]
    defaults = {"job_id": live["job"], "sweep_id": live["sweep"], "alias": "staging"}
    url = path.format(**{**defaults, **paths})
    content = LONG_TEXT[:10_000] if (method, path) == ("post", "/corpora") else None
    return service.client.request(method, url, params=params, content=content, headers=headers)


def test_every_parameter_bound_is_the_enforced_one(live: dict[str, Any]) -> None:
    schema = live["service"].client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    walked: set[str] = set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method == "delete":
                continue  # a valid id at a bound would delete a row; ids are walked on GET
            for parameter in operation.get("parameters", []):
                field = parameter["name"]
                for inside, outside, bound in bound_cases(parameter["schema"], components):
                    case = f"{method.upper()} {path} {field} {bound}"
                    for value, accepted in ((inside, True), (outside, False)):
                        params, paths, headers = _query_base(live, path, field), {}, {}
                        where = {"path": paths, "header": headers}.get(parameter["in"], params)
                        where[field] = value
                        response = _request(live, method, path, params, paths, headers)
                        check_bound(response, field, accepted, f"{case} = {str(value)[:40]}")
                    walked.add(f"{path} {field}")
    for expected in ("/predict a", "/predict text", "/generate temperature", "/corpora name"):
        assert expected in walked, sorted(walked)
