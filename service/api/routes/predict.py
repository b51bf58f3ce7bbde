"""GET /predict and GET /generate.

/predict is the hot path, so it is an `async def` that, once its model is loaded, touches
neither the threadpool nor an ORM session (`ModelCache.cached`), and answers with a
JSONResponse built from plain lists (same fields and OpenAPI schema as the response_model, no
pydantic validation of our own output). Its optional query parameters, every served task's
(`TaskServing.query`) and `model`, are validated as one pydantic model (`PredictQuery`) instead
of FastAPI's per-parameter path, the costlier of the two; the schema documents them all the
same. Which task a query asks is the registry's to say (service/serving/registry.py), and how
it is answered the task's answerer's, through service/serving/ (answer cache, batching,
threads); which model it means (an id, an alias, the default alias or the newest) is for
service/serving/model_refs.py to say. What can take long runs in the threadpool: loading a model
(`resolve_and_load`), a long next-word context, and every /generate.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError, create_model
from starlette.concurrency import run_in_threadpool

from rnnlab.models.tasks.config import MAX_SEED
from rnnlab.service.schemas.resources import (
    BinaryAdditionPrediction,
    Generation,
    NextWordPrediction,
)
from rnnlab.service.schemas.text import NO_NUL
from rnnlab.service.serving.model_cache import LoadedModel, ModelCache
from rnnlab.service.serving.model_refs import (
    MODEL_REF_DESCRIPTION,
    MODEL_REF_PATTERN,
    ModelRefs,
    Resolved,
    SelectedBy,
    parse_model_ref,
    resolve_and_load,
)
from rnnlab.service.serving.registry import ASKING_PARAMETERS, QUERY_PARAMS, for_query, generating

router = APIRouter(tags=["predict"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such model, or none trained yet"},
    409: {"description": "The model's stored weights are corrupted"},
    422: {"description": "Invalid query"},
}
ModelQuery = Annotated[
    str | None, Query(pattern=MODEL_REF_PATTERN, description=MODEL_REF_DESCRIPTION)
]


async def _loaded(request: Request, task: str, model: str | None) -> tuple[LoadedModel, SelectedBy]:
    """The model a request means and how it was chosen (`model_selected_by`): from the cache
    on the event loop, else resolved and loaded in a thread."""
    ref = parse_model_ref(model)
    cache: ModelCache = request.app.state.model_cache
    refs: ModelRefs | None = request.app.state.model_refs
    if refs is not None and refs.on_event_loop:
        resolved = refs.cached(task, ref)
    elif refs is not None:
        resolved = await run_in_threadpool(refs.cached, task, ref)
    else:
        resolved = Resolved(ref, "id") if isinstance(ref, int) else None
    if resolved is not None:
        loaded = cache.cached(task, resolved.model_id)
        if loaded is not None:
            return loaded, resolved.selected_by
    return await run_in_threadpool(resolve_and_load, request.app.state.db, cache, task, ref)


def _selected(body: bytes, selected_by: str) -> Response:
    """The answer with `model_selected_by` added to its JSON object: the cached bodies are
    shared by every way of naming their model, so the field is spliced in per request."""
    return Response(
        b'%s,"model_selected_by":"%s"}' % (body[:-1], selected_by.encode()),
        media_type="application/json",
    )


def _predict_query() -> type[BaseModel]:
    """The query of /predict: every served task's parameters, then `model`."""
    fields: dict[str, Any] = {
        param.name: (
            param.kind | None if param.asks else param.kind,
            Field(param.default, description=param.description, **param.bounds),
        )
        for param in QUERY_PARAMS.values()
    }
    fields["model"] = (
        str | None,
        Field(None, pattern=MODEL_REF_PATTERN, description=MODEL_REF_DESCRIPTION),
    )
    return create_model("PredictQuery", **fields)  # type: ignore[call-overload,no-any-return]


PredictQuery = _predict_query()


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters, one per field of `model`."""
    properties = model.model_json_schema()["properties"]
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": schema.pop("description", ""),
            "schema": schema,
        }
        for name, schema in properties.items()
    ]


def _parse_query(request: Request) -> BaseModel:
    """The query validated in one call; errors answer 422 exactly as FastAPI's would."""
    try:
        return PredictQuery.model_validate(dict(request.query_params))
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in error.errors(include_url=False)]
        ) from error


@router.get(
    "/predict",
    summary="Predict a sum (a, b) or the next word (text)",
    response_model=BinaryAdditionPrediction | NextWordPrediction,
    responses=ERRORS,
    openapi_extra={"parameters": _query_parameters(PredictQuery)},
)
async def predict(request: Request) -> Any:
    """`?a=37&b=45` asks a binary-addition model; `?text=the cat&k=5` a next-word model."""
    query = vars(_parse_query(request))  # the fields by name, without a model_dump's copy
    serving = for_query([name for name in ASKING_PARAMETERS if query[name] is not None])
    loaded, selected_by = await _loaded(request, serving.task, query["model"])
    body = await serving.predict(loaded, query)
    return _selected(body, selected_by)


@router.get("/generate", summary="Continue a text (next word)", responses=ERRORS)
async def generate(
    request: Request,
    text: Annotated[str, Query(max_length=10_000, pattern=NO_NUL, description="The prompt")],
    words: Annotated[int, Query(ge=1, le=500, description="Words to generate")] = 20,
    temperature: Annotated[
        float, Query(gt=0, le=100, allow_inf_nan=False, description="Sampling temperature")
    ] = 1.0,
    top_k: Annotated[
        int | None,
        Query(ge=1, description="Sample among the k most likely; at most the model's vocabulary"),
    ] = None,
    seed: Annotated[
        int | None, Query(ge=0, le=MAX_SEED, description="For a repeatable text")
    ] = None,
    model: ModelQuery = None,
) -> Generation:
    """Sample a continuation word by word, carrying the recurrent state (never `<unk>`)."""
    serving = generating()
    loaded, selected_by = await _loaded(request, serving.task, model)
    fields = await serving.generate(
        loaded, text=text, words=words, temperature=temperature, top_k=top_k, seed=seed
    )
    return Generation(**fields, model_selected_by=selected_by)
