"""GET /predict and GET /generate.

/predict is the hot path, so it is an `async def` that, once its model is loaded, touches
neither the threadpool nor an ORM session (`ModelCache.cached`), and answers with a
JSONResponse built from plain lists (same fields and OpenAPI schema as the response_model, no
pydantic validation of our own output). Its five optional query parameters are validated as
one pydantic model (`PredictQuery`) instead of FastAPI's per-parameter path, which was about
half of the in-process cost of a prediction; the schema documents them all the same.
Next-word requests arriving together share one batched pass (service/batching.py), and a
repeated next-word query is answered from its model's `AnswerCache`. What can
take long runs in the threadpool: loading a model (`load`), a long next-word
context, and every /generate.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from models.text import UNKNOWN_TOKEN, preprocess
from service.db import Database
from service.errors import InvalidInput
from service.inference import LoadedModel, ModelCache, load
from service.model_refs import (
    MODEL_REF_DESCRIPTION,
    MODEL_REF_PATTERN,
    ModelRef,
    ModelRefs,
    Resolved,
    parse_model_ref,
    resolve,
)
from service.schemas import BinaryAdditionPrediction, Generation, NextWordPrediction
from service.tasks import BINARY_ADDITION, NEXT_WORD

router = APIRouter(tags=["predict"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such model, or none trained yet"},
    409: {"description": "The model's stored weights are corrupted"},
    422: {"description": "Invalid query"},
}
ModelQuery = Annotated[
    str | None, Query(pattern=MODEL_REF_PATTERN, description=MODEL_REF_DESCRIPTION)
]
BIG_INT = 2**62  # query ints beyond this are refused by validation, never overflow numpy
# A context up to this long is read on the event loop (well under a millisecond); a longer one
# goes to the threadpool so that it never holds up the other requests.
INLINE_TEXT_CHARS = 1_000


async def _loaded(request: Request, task: str, model: str | None) -> tuple[LoadedModel, str]:
    """The model a request means and how it was chosen (`model_selected_by`): from the cache
    on the event loop, else resolved and loaded in a thread."""
    ref = parse_model_ref(model)
    cache: ModelCache = request.app.state.model_cache
    refs: ModelRefs | None = request.app.state.model_refs
    if refs is not None:
        resolved = refs.cached(task, ref)
    else:
        resolved = Resolved(ref, "id") if isinstance(ref, int) else None
    if resolved is not None:
        loaded = cache.cached(task, resolved.model_id)
        if loaded is not None:
            return loaded, resolved.selected_by
    return await run_in_threadpool(_resolve_and_load, request.app.state.db, cache, task, ref)


def _resolve_and_load(
    db: Database, cache: ModelCache, task: str, ref: ModelRef
) -> tuple[LoadedModel, str]:
    with db.read() as session:
        resolved = resolve(session, task, ref)
    return load(db, cache, task, resolved.model_id), resolved.selected_by


def _selected(answer: Response, selected_by: str) -> Response:
    """The answer with `model_selected_by` added to its JSON object: the cached bodies are
    shared by every way of naming their model, so the field is spliced in per request."""
    body = bytes(answer.body)
    return Response(
        b'%s,"model_selected_by":"%s"}' % (body[:-1], selected_by.encode()),
        media_type="application/json",
    )


class PredictQuery(BaseModel):
    """The query of /predict."""

    a: int | None = Field(None, ge=-BIG_INT, le=BIG_INT, description="First addend")
    b: int | None = Field(None, ge=-BIG_INT, le=BIG_INT, description="Second addend")
    text: str | None = Field(None, max_length=10_000, description="Context (next word)")
    k: int = Field(5, ge=1, description="How many next words (next word)")
    model: str | None = Field(None, pattern=MODEL_REF_PATTERN, description=MODEL_REF_DESCRIPTION)


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


def _parse_query(request: Request) -> PredictQuery:
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
    query = _parse_query(request)
    a, b, text, k, model = query.a, query.b, query.text, query.k, query.model
    if text is not None and (a is not None or b is not None):
        raise InvalidInput("give either a and b (binary addition) or text (next word), not both")
    if text is not None:
        loaded, selected_by = await _loaded(request, NEXT_WORD, model)
        return _selected(await _predict_next_word(loaded, text, k), selected_by)
    if a is None or b is None:
        raise InvalidInput("give both a and b (e.g. ?a=37&b=45), or text for a next-word model")
    loaded, selected_by = await _loaded(request, BINARY_ADDITION, model)
    return _selected(_predict_sum(loaded, a, b), selected_by)


def _locked(function, loaded: LoadedModel, *args):  # type: ignore[no-untyped-def]
    with loaded.lock:
        return function(loaded, *args)


def _predict_sum(loaded: LoadedModel, a: int, b: int) -> Response:
    """A BinaryAdditionPrediction."""
    try:
        return Response(loaded.sum_body(a, b), media_type="application/json")
    except ValueError as error:
        raise InvalidInput(f"{error} (model {loaded.model_id})") from error


def _context(loaded: LoadedModel, text: str) -> tuple[list[str], list[int], list[str]]:
    words = preprocess(text)
    if not words:
        raise InvalidInput(
            "the text has no word left after pre-processing (letters a-z, apostrophes and "
            "hyphens are kept): give at least one English word"
        )
    assert loaded.dictionary is not None
    ids = [loaded.dictionary.id_of(word) for word in words]
    unknown = [word for word, i in zip(words, ids, strict=True) if i == 0]
    return words, ids, unknown


async def _predict_next_word(loaded: LoadedModel, text: str, k: int) -> Response:
    """A NextWordPrediction: from the model's answer cache when this (text, k) was asked lately,
    else computed (`_next_word_answer`) and kept there."""
    assert loaded.dictionary is not None and loaded.answers is not None
    body = loaded.answers.get(text, k)
    if body is None:
        vocabulary = loaded.dictionary.size
        if k > vocabulary:
            raise InvalidInput(
                f"k must be in 1..{vocabulary} (the vocabulary of model {loaded.model_id})"
            )
        body = bytes(JSONResponse(await _next_word_answer(loaded, text, k)).body)
        if len(text) <= INLINE_TEXT_CHARS:  # a long key is not worth its memory
            loaded.answers.put(text, k, body)
    return Response(body, media_type="application/json")


async def _next_word_answer(loaded: LoadedModel, text: str, k: int) -> dict[str, Any]:
    """The fields of NextWordPrediction. A short context joins the other requests of this turn
    of the event loop in one batched pass (`NextWordBatcher`); a long one runs alone in a
    thread, so that it never holds up the loop."""
    assert loaded.dictionary is not None and loaded.batcher is not None
    words, ids, unknown = _context(loaded, text)
    if len(text) <= INLINE_TEXT_CHARS:
        top, probabilities = await loaded.batcher.most_likely(ids, k)
    else:
        top, probabilities = await run_in_threadpool(
            _locked, lambda loaded: loaded.predictor.most_likely(ids, k), loaded
        )
    dictionary_words = loaded.dictionary.words
    return {
        "predictions": [
            {
                "word": dictionary_words[i],
                "probability": p,
                "unknown": dictionary_words[i] == UNKNOWN_TOKEN,
            }
            for i, p in zip(top.tolist(), probabilities.tolist(), strict=True)
        ],
        "model_id": loaded.model_id,
        "context": words,
        "unknown_words": unknown,
    }


@router.get("/generate", summary="Continue a text (next word)", responses=ERRORS)
async def generate(
    request: Request,
    text: Annotated[str, Query(max_length=10_000, description="The prompt")],
    words: Annotated[int, Query(ge=1, le=500, description="Words to generate")] = 20,
    temperature: Annotated[float, Query(gt=0, le=100, description="Sampling temperature")] = 1.0,
    top_k: Annotated[int | None, Query(ge=1, description="Sample among the k most likely")] = None,
    seed: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="For a repeatable text")
    ] = None,
    model: ModelQuery = None,
) -> Generation:
    """Sample a continuation word by word, carrying the recurrent state (never `<unk>`)."""
    loaded, selected_by = await _loaded(request, NEXT_WORD, model)
    # Up to 500 sampled words: always in the threadpool, never on the event loop.
    generation = await run_in_threadpool(
        _locked, _generate, loaded, text, words, temperature, top_k, seed
    )
    generation.model_selected_by = selected_by
    return generation


def _generate(
    loaded: LoadedModel,
    text: str,
    words: int,
    temperature: float,
    top_k: int | None,
    seed: int | None,
) -> Generation:
    assert loaded.dictionary is not None
    if top_k is not None and top_k > loaded.dictionary.size:
        raise InvalidInput(
            f"top_k must be in 1..{loaded.dictionary.size} (the vocabulary of "
            f"model {loaded.model_id})"
        )
    context, ids, unknown = _context(loaded, text)
    # The unknown token stands for many rare words: as generated text it would read "<unk>".
    unknown_id = loaded.dictionary.id_of(UNKNOWN_TOKEN)
    generated = loaded.predictor.generate(
        ids, words, temperature, top_k, np.random.default_rng(seed), banned=(unknown_id,)
    )
    continuation = loaded.dictionary.decode(generated)
    return Generation(
        text=" ".join(context + continuation),
        continuation=continuation,
        model_id=loaded.model_id,
        unknown_words=unknown,
    )
