"""Corpora: pre-process uploaded text, build its dictionary, store ids compactly, load them back."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.models.tasks import TASKS
from rnnlab.models.text import Dictionary, build_dictionary, preprocess
from rnnlab.service.errors import CorpusTooSmall, InvalidInput, corpus_not_found
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Corpus

DEMO_CORPUS_NAME = "demo"


def decode_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"the text is not valid UTF-8 (byte {error.start}): upload UTF-8 encoded text"
        ) from error


def min_corpus_tokens() -> int:
    """The fewest tokens of a corpus: what the corpus tasks need with their default settings."""
    needs = [
        task.min_tokens(task.config_class())
        for task in TASKS.values()
        if task.min_tokens is not None
    ]
    return max(needs, default=1)


def create_corpus(db: Database, text: str, name: str, unknown_threshold: int) -> Corpus:
    """Pre-process `text` as the notes do, build the dictionary and store both (422 if unusable)."""
    if not text.strip():
        raise InvalidInput("the text is empty: upload UTF-8 text with some words")
    words = preprocess(text)
    if not words:
        raise InvalidInput(
            "no word is left after pre-processing (only letters a-z, apostrophes and hyphens "
            "are kept): upload English text"
        )
    needed = min_corpus_tokens()
    if len(words) < needed:
        raise CorpusTooSmall(
            f"the text has {len(words)} words after pre-processing; a corpus needs at least "
            f"{needed} to fill one training window and one test window with the default settings"
        )
    dictionary = build_dictionary(words, unknown_threshold)
    ids = dictionary.encode(words)
    # uint16 halves the storage of every corpus whose vocabulary fits in it (nearly all).
    dtype = np.uint16 if dictionary.size <= np.iinfo(np.uint16).max else np.int32
    with db.write() as session:
        corpus = Corpus(
            name=name,
            characters=len(text),
            tokens=int(ids.size),
            vocabulary_size=dictionary.size,
            unknown_threshold=unknown_threshold,
            unknown_token_fraction=float(np.count_nonzero(ids == 0) / ids.size),
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            dictionary=dictionary.to_json(),
            token_ids=ids.astype(dtype).tobytes(),
            token_dtype=np.dtype(dtype).name,
        )
        session.add(corpus)
        session.flush()
        return corpus


def get_corpus(session: Session, corpus_id: int) -> Corpus:
    corpus = session.get(Corpus, corpus_id)
    if corpus is None:
        raise corpus_not_found(corpus_id)
    return corpus


def lock_corpus(session: Session, corpus_id: int) -> Corpus:
    """The corpus, kept from deletion until the session's transaction ends (PostgreSQL's FOR
    KEY SHARE; SQLite's write transactions run one at a time anyway)."""
    corpus = session.scalar(
        select(Corpus).where(Corpus.id == corpus_id).with_for_update(key_share=True)
    )
    if corpus is None:
        raise corpus_not_found(corpus_id)
    return corpus


def load_token_ids(session: Session, corpus_id: int) -> tuple[NDArray[np.int32], int]:
    corpus = get_corpus(session, corpus_id)
    ids = np.frombuffer(corpus.token_ids, dtype=corpus.token_dtype).astype(np.int32)
    return ids, corpus.vocabulary_size


def load_dictionary(session: Session, corpus_id: int) -> Dictionary:
    return Dictionary.from_json(get_corpus(session, corpus_id).dictionary)


def demo_corpus_id(session: Session) -> int | None:
    return session.scalar(
        select(Corpus.id).where(Corpus.name == DEMO_CORPUS_NAME).order_by(Corpus.id).limit(1)
    )


def ensure_demo_corpus(db: Database) -> int:
    """Register the demo corpus shipped with the service once, so next_word works at once."""
    with db.read() as session:
        existing = demo_corpus_id(session)
    if existing is not None:
        return existing
    demo = resources.files("rnnlab.service.store.data").joinpath("demo_corpus.txt")
    text = demo.read_text("utf-8")
    return create_corpus(db, text, DEMO_CORPUS_NAME, unknown_threshold=3).id
