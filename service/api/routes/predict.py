from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from models.text import UNKNOWN_TOKEN, preprocess
from service.api.deps import ModelCacheDep, ReadSessionDep
from service.errors import InvalidInput
from service.inference import LoadedModel, ModelCache, load_model, resolve_model_id
from service.schemas import BinaryAdditionPrediction, Generation, NextWordPrediction, WordProbability
from service.tasks import BINARY_ADDITION, NEXT_WORD

router = APIRouter(tags=["predict"])

ERRORS = {
    404: {"description": "No such model, or none trained yet"},
    409: {"description": "The model's stored weights are corrupted"},
    422: {"description": "Invalid query"},
}
ModelQuery = Annotated[int | None, Query(ge=1, description="Model id; default the newest")]
TextQuery = Annotated[str | None, Query(max_length=10_000, description="Context (next word)")]
BIG_INT = 2**62  # query ints beyond this are refused by validation, never overflow numpy


def _loaded(session: ReadSessionDep, cache: ModelCache, task: str, model: int | None) -> LoadedModel:
    model_id = resolve_model_id(session, task, model)
    return cache.get(model_id, lambda: load_model(session, model_id))


@router.get(
    "/predict",
    summary="Predict a sum (a, b) or the next word (text)",
    response_model=BinaryAdditionPrediction | NextWordPrediction,
    responses=ERRORS,
)
def predict(
    session: ReadSessionDep,
    cache: ModelCacheDep,
    a: Annotated[int | None, Query(ge=-BIG_INT, le=BIG_INT, description="First addend")] = None,
    b: Annotated[int | None, Query(ge=-BIG_INT, le=BIG_INT, description="Second addend")] = None,
    text: TextQuery = None,
    k: Annotated[int, Query(ge=1, description="How many next words (next word)")] = 5,
    model: ModelQuery = None,
) -> BinaryAdditionPrediction | NextWordPrediction:
    """`?a=37&b=45` asks a binary-addition model; `?text=the cat&k=5` a next-word model."""
    if text is not None and (a is not None or b is not None):
        raise InvalidInput("give either a and b (binary addition) or text (next word), not both")
    if text is not None:
        return _predict_next_word(_loaded(session, cache, NEXT_WORD, model), text, k)
    if a is None or b is None:
        raise InvalidInput("give both a and b (e.g. ?a=37&b=45), or text for a next-word model")
    return _predict_sum(_loaded(session, cache, BINARY_ADDITION, model), a, b)


def _predict_sum(loaded: LoadedModel, a: int, b: int) -> BinaryAdditionPrediction:
    try:
        total, bits, probabilities = loaded.predictor.predict(a, b)
    except ValueError as error:
        raise InvalidInput(f"{error} (model {loaded.model_id})") from error
    return BinaryAdditionPrediction(
        sum=total, bits=bits, probabilities=probabilities, model_id=loaded.model_id
    )


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


def _predict_next_word(loaded: LoadedModel, text: str, k: int) -> NextWordPrediction:
    assert loaded.dictionary is not None
    vocabulary = loaded.dictionary.size
    if k > vocabulary:
        raise InvalidInput(f"k must be in 1..{vocabulary} (the vocabulary of model "
                           f"{loaded.model_id})")
    words, ids, unknown = _context(loaded, text)
    probabilities = loaded.predictor.next_distribution(ids)
    top = np.argpartition(-probabilities, k - 1)[:k]
    top = top[np.argsort(-probabilities[top], kind="stable")]
    return NextWordPrediction(
        predictions=[
            WordProbability(word=loaded.dictionary.words[i], probability=float(probabilities[i]),
                            unknown=loaded.dictionary.words[i] == UNKNOWN_TOKEN)
            for i in top
        ],
        model_id=loaded.model_id, context=words, unknown_words=unknown,
    )


@router.get("/generate", summary="Continue a text (next word)", responses=ERRORS)
def generate(
    session: ReadSessionDep,
    cache: ModelCacheDep,
    text: Annotated[str, Query(max_length=10_000, description="The prompt")],
    words: Annotated[int, Query(ge=1, le=500, description="Words to generate")] = 20,
    temperature: Annotated[float, Query(gt=0, le=100, description="Sampling temperature")] = 1.0,
    top_k: Annotated[int | None, Query(ge=1, description="Sample among the k most likely")] = None,
    seed: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="For a repeatable text")] = None,
    model: ModelQuery = None,
) -> Generation:
    """Sample a continuation word by word, carrying the recurrent state."""
    loaded = _loaded(session, cache, NEXT_WORD, model)
    assert loaded.dictionary is not None
    if top_k is not None and top_k > loaded.dictionary.size:
        raise InvalidInput(f"top_k must be in 1..{loaded.dictionary.size} (the vocabulary of "
                           f"model {loaded.model_id})")
    context, ids, unknown = _context(loaded, text)
    generated = loaded.predictor.generate(
        ids, words, temperature, top_k, np.random.default_rng(seed)
    )
    continuation = loaded.dictionary.decode(generated)
    return Generation(
        text=" ".join(context + continuation), continuation=continuation,
        model_id=loaded.model_id, unknown_words=unknown,
    )
