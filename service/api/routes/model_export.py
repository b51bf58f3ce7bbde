"""GET /models/{id}/weights.npz and GET /models/{id}/model.onnx: a trained model taken elsewhere."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from rnnlab.models.tasks import TASKS
from rnnlab.service.api.conditional import NOT_MODIFIED, conditional
from rnnlab.service.api.deps import ModelId, ReadSessionDep
from rnnlab.service.errors import InvalidInput, ModelCorrupted, model_not_found, onnx_missing
from rnnlab.service.store.blobs import CorruptBlob, npz_to_arrays
from rnnlab.service.store.corpora import load_dictionary
from rnnlab.service.store.tables import TrainedModel

router = APIRouter(prefix="/models", tags=["models"])

ONNX_MEDIA_TYPE = "application/onnx"


def _binary(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        **NOT_MODIFIED,
        404: {"description": "No such model"},
        409: {"description": "The stored weights do not match their sha256"},
    }


def _stored(session: ReadSessionDep, model_id: int) -> TrainedModel:
    model = session.get(TrainedModel, model_id)
    if model is None:
        raise model_not_found(model_id)
    if hashlib.sha256(model.weights).hexdigest() != model.sha256:
        raise ModelCorrupted(f"the stored weights of model {model_id} do not match their sha256")
    return model


def _download(request: Request, data: bytes, media_type: str, filename: str) -> Response:
    """The bytes as a file, with their sha256 (whose hex is also their ETag)."""
    sha256 = hashlib.sha256(data)
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-SHA256": sha256.hexdigest(),
        "Repr-Digest": f"sha-256=:{base64.b64encode(sha256.digest()).decode()}:",  # RFC 9530
    }
    return conditional(request, data, media_type, headers)


@router.get(
    "/{model_id}/weights.npz",
    summary="Download a model's weights",
    response_class=Response,
    responses=_binary("application/octet-stream", "The npz archive, as stored"),
)
def read_weights(model_id: ModelId, session: ReadSessionDep, request: Request) -> Response:
    """The stored npz bytes (`numpy.load(..., allow_pickle=False)` reads them); their sha256,
    the model's `sha256`, is in `X-Content-SHA256` and `Repr-Digest`."""
    model = _stored(session, model_id)
    return _download(request, model.weights, "application/octet-stream", f"model-{model_id}.npz")


@router.get(
    "/{model_id}/model.onnx",
    summary="Export a model to ONNX",
    response_class=Response,
    responses={
        **_binary(ONNX_MEDIA_TYPE, "The ONNX model"),
        501: {"description": "The optional onnx package is not installed"},
    },
)
def read_onnx(model_id: ModelId, session: ReadSessionDep, request: Request) -> Response:
    """ONNX's own RNN/LSTM/GRU operators. Binary addition: inputs `a`, `b` (int64 [N]), outputs
    `sum`, `bits`, `probabilities` (most significant first). Next word: input `ids` (int64
    [N, T]), outputs `logits`, `probabilities` [N, V]; the dictionary (ids -> words) and the
    text pre-processing are in the model's metadata (`rnnlab.dictionary`, ...)."""
    model = _stored(session, model_id)  # no such model is a 404 with or without onnx
    try:
        from rnnlab.service.catalog.onnx_export import export_onnx
    except ModuleNotFoundError as error:
        if error.name != "onnx":
            raise
        raise onnx_missing() from error
    try:
        weights = npz_to_arrays(model.weights, model.sha256)
    except CorruptBlob as error:
        raise ModelCorrupted(f"the weights of model {model_id} are unreadable: {error}") from error
    words = None
    if model.corpus_id is not None:
        words = load_dictionary(session, model.corpus_id).words
    task = TASKS.get(model.task)
    if task is None or task.export_graph is None:
        raise InvalidInput(f"a {model.task} model has no ONNX export: take weights.npz instead")
    data = export_onnx(model_id, task, model.hyperparams, weights, words)
    return _download(request, data, ONNX_MEDIA_TYPE, f"model-{model_id}.onnx")
