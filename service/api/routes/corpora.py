from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import exists, func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from rnnlab.models.text import UNKNOWN_TOKEN
from rnnlab.service.api.deps import CorpusId, DatabaseDep, ReadSessionDep, UploadSlotsDep
from rnnlab.service.catalog.deletion import CORPUS_TABLES, reclaim_space
from rnnlab.service.errors import CorpusInUse, InvalidInput, corpus_not_found
from rnnlab.service.schemas.experiments import NAME_BOUNDS
from rnnlab.service.schemas.resources import (
    CorporaPublic,
    CorpusPublic,
    DictionaryEntry,
    DictionaryPublic,
)
from rnnlab.service.store import corpora as corpus_store
from rnnlab.service.store.corpora import chunks_of_files, get_corpus
from rnnlab.service.store.tables import Corpus, Job, TrainedModel

router = APIRouter(prefix="/corpora", tags=["corpora"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such corpus"}}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/plain": {
                "schema": {"type": "string"},
                "example": "The cat sat on the mat. The dog sat on the log.",
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            },
        },
    }
}


def to_public(corpus: Corpus) -> CorpusPublic:
    return CorpusPublic(
        id=corpus.id,
        name=corpus.name,
        characters=corpus.characters,
        tokens=corpus.tokens,
        vocabulary_size=corpus.vocabulary_size,
        unknown_threshold=corpus.unknown_threshold,
        unknown_token_fraction=corpus.unknown_token_fraction,
        unknown_token=UNKNOWN_TOKEN,
        sha256=corpus.sha256,
        created_at=corpus.created_at,
    )


@asynccontextmanager
async def uploaded_files(request: Request) -> AsyncIterator[list[BinaryIO]]:
    """The uploaded text as files on disk: a raw text/plain body spooled to one, or every file of
    a multipart form (which the form parser spools), closed (and so deleted) on the way out."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        try:
            files = [value.file for _, value in form.multi_items() if isinstance(value, UploadFile)]
            if not files:
                raise InvalidInput("the multipart form has no file: send the text as a 'file' part")
            yield files
        finally:
            await form.close()
        return
    if content_type and not content_type.startswith("text/plain"):
        raise InvalidInput(
            f"unsupported content type {content_type.split(';')[0]!r}: send text/plain or "
            "multipart/form-data"
        )
    with tempfile.TemporaryFile() as file:
        async for chunk in request.stream():
            await run_in_threadpool(file.write, chunk)
        yield [file]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a corpus",
    openapi_extra=UPLOAD_BODY,
    operation_id="create_corpus_endpoint_corpora_post",
    responses={
        413: {"description": "Body over RNNLAB_MAX_UPLOAD_BYTES"},
        422: {"description": "Not UTF-8, empty, or too short"},
        429: {"description": "RNNLAB_MAX_CONCURRENT_UPLOADS uploads are being read already"},
    },
)
async def create_corpus(
    request: Request,
    response: Response,
    db: DatabaseDep,
    uploads: UploadSlotsDep,
    name: Annotated[str | None, Query(**NAME_BOUNDS)] = None,
    unknown_threshold: Annotated[int, Query(ge=0, le=1_000_000)] = 3,
) -> CorpusPublic:
    """Pre-process the text as the notes do; words seen <= unknown_threshold times are unknown.

    The text streams to disk and is read from there twice, so an upload holds about its own
    size in memory at most (the word ids it becomes)."""
    with uploads.take():
        async with uploaded_files(request) as files:
            corpus = await run_in_threadpool(
                corpus_store.create_corpus,
                db,
                chunks_of_files(files),
                name or "corpus",
                unknown_threshold,
            )
    response.headers["Location"] = f"/corpora/{corpus.id}"
    return to_public(corpus)


@router.get("", summary="List corpora")
def read_corpora(session: ReadSessionDep) -> CorporaPublic:
    """Every corpus, newest first."""
    corpora = session.scalars(select(Corpus).order_by(Corpus.id.desc())).all()
    return CorporaPublic(corpora=[to_public(corpus) for corpus in corpora], count=len(corpora))


@router.get("/{corpus_id}", summary="Read a corpus", responses=NOT_FOUND)
def read_corpus(corpus_id: CorpusId, session: ReadSessionDep) -> CorpusPublic:
    """Size, vocabulary and unknown-token share of one corpus."""
    return to_public(get_corpus(session, corpus_id))


@router.get("/{corpus_id}/dictionary", summary="Download a dictionary", responses=NOT_FOUND)
def read_dictionary(corpus_id: CorpusId, session: ReadSessionDep) -> DictionaryPublic:
    """word -> id and count; id 0 is the unknown token."""
    dictionary = get_corpus(session, corpus_id).dictionary
    return DictionaryPublic(
        corpus_id=corpus_id,
        unknown_token=UNKNOWN_TOKEN,
        words={
            word: DictionaryEntry(id=word_id, count=count)
            for word_id, (word, count) in enumerate(
                zip(dictionary["words"], dictionary["counts"], strict=True)
            )
        },
    )


@router.delete(
    "/{corpus_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a corpus",
    responses={**NOT_FOUND, 409: {"description": "A job or model uses it"}},
)
def delete_corpus(corpus_id: CorpusId, db: DatabaseDep) -> None:
    """Refused while a job or a model uses the corpus; the space is returned."""
    with db.write() as session:
        # Locked first, so that a job being submitted for it either is counted below, or waits
        # and then finds the corpus gone (404).
        corpus = session.get(Corpus, corpus_id, with_for_update=True)
        if corpus is None:
            raise corpus_not_found(corpus_id)
        jobs = session.scalar(select(func.count()).where(Job.corpus_id == corpus_id)) or 0
        in_model = session.scalar(select(exists().where(TrainedModel.corpus_id == corpus_id)))
        if jobs or in_model:
            raise CorpusInUse(
                f"corpus {corpus_id} is used by {jobs} job(s) and their models: "
                "it cannot be deleted while they exist"
            )
        session.delete(corpus)
    reclaim_space(db, CORPUS_TABLES)
