"""Corpora: pre-process uploaded text, build its dictionary, store ids compactly, load them back.

An upload is read in two passes over its bytes, chunk by chunk (they wait on disk, not in
memory): the first counts the words, which fixes the dictionary; the second writes each word's
id. What the server holds at once is one chunk, the counts and the ids, never the whole text
or a list of its words.
"""

from __future__ import annotations

import codecs
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from rnnlab.models.tasks import TASKS
from rnnlab.models.text import Dictionary, WordSplitter, dictionary_from_counts
from rnnlab.service.errors import CorpusTooSmall, InvalidInput, corpus_not_found
from rnnlab.service.store.db import Database
from rnnlab.service.store.tables import Corpus

DEMO_CORPUS_NAME = "demo"
CHUNK_BYTES = 1 << 20

TextChunks = Callable[[], Iterator[bytes]]
"""A text's UTF-8 bytes, chunk by chunk, from the start at every call (one call per pass)."""


def chunks_of_text(text: str) -> TextChunks:
    data = text.encode("utf-8")
    return lambda: iter([data])


def chunks_of_files(files: Sequence[BinaryIO]) -> TextChunks:
    """The files one after the other, a newline between two (the text of a multipart upload)."""

    def chunks() -> Iterator[bytes]:
        for index, file in enumerate(files):
            if index:
                yield b"\n"
            file.seek(0)
            while chunk := file.read(CHUNK_BYTES):
                yield chunk

    return chunks


def decoded_words(chunks: TextChunks) -> Iterator[tuple[bytes, str, list[str]]]:
    """Each chunk, its text and the words it completes (the last chunk's text carries the last
    word); 422 at the first byte that is not UTF-8, counted from the start of the text."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    splitter = WordSplitter()
    offset = 0  # bytes of the text before this chunk
    for chunk in chunks():
        pending = len(decoder.getstate()[0])  # the start of a character the last chunk cut
        text = _decode(decoder, chunk, offset - pending)
        offset += len(chunk)
        yield chunk, text, splitter.feed(text)
    pending = len(decoder.getstate()[0])
    text = _decode(decoder, b"", offset - pending, final=True)
    yield b"", text, splitter.feed(text) + splitter.finish()


def _decode(
    decoder: codecs.IncrementalDecoder, chunk: bytes, start: int, final: bool = False
) -> str:
    try:
        return decoder.decode(chunk, final)
    except UnicodeDecodeError as error:
        raise InvalidInput(
            f"the text is not valid UTF-8 (byte {start + error.start}): upload UTF-8 encoded text"
        ) from error


@dataclass
class WordCount:
    """What the first pass over a text learns."""

    counts: Counter[str] = field(default_factory=Counter)
    tokens: int = 0
    characters: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    has_text: bool = False  # a character that is not white space

    def add(self, chunk: bytes, text: str, words: list[str]) -> None:
        self.counts.update(words)
        self.tokens += len(words)
        self.characters += len(text)
        self.sha256.update(chunk)
        self.has_text = self.has_text or bool(text.strip())


def count_words(chunks: TextChunks) -> WordCount:
    count = WordCount()
    for chunk, text, words in decoded_words(chunks):
        count.add(chunk, text, words)
    return count


def encode_words(
    chunks: TextChunks, dictionary: Dictionary, tokens: int, dtype: type[np.integer]
) -> NDArray[np.integer]:
    """The second pass: every word's id, in order."""
    ids = np.empty(tokens, dtype=dtype)
    filled = 0
    for _, _, words in decoded_words(chunks):
        ids[filled : filled + len(words)] = dictionary.encode(words)
        filled += len(words)
    return ids


def min_corpus_tokens() -> int:
    """The fewest tokens of a corpus: what the corpus tasks need with their default settings."""
    needs = [
        task.min_tokens(task.config_class())
        for task in TASKS.values()
        if task.min_tokens is not None
    ]
    return max(needs, default=1)


def check_usable(count: WordCount) -> None:
    """422 for a text that cannot make a corpus, saying why."""
    if not count.has_text:
        raise InvalidInput("the text is empty: upload UTF-8 text with some words")
    if not count.tokens:
        raise InvalidInput(
            "no word is left after pre-processing (only letters a-z, apostrophes and hyphens "
            "are kept): upload English text"
        )
    needed = min_corpus_tokens()
    if count.tokens < needed:
        raise CorpusTooSmall(
            f"the text has {count.tokens} words after pre-processing; a corpus needs at least "
            f"{needed} to fill one training window and one test window with the default settings"
        )


def create_corpus(db: Database, chunks: TextChunks, name: str, unknown_threshold: int) -> Corpus:
    """Pre-process the text as the notes do, build the dictionary and store both (422 if
    unusable)."""
    count = count_words(chunks)
    check_usable(count)
    dictionary = dictionary_from_counts(count.counts, unknown_threshold)
    # uint16 halves the storage of every corpus whose vocabulary fits in it (nearly all).
    dtype = np.uint16 if dictionary.size <= np.iinfo(np.uint16).max else np.int32
    ids = encode_words(chunks, dictionary, count.tokens, dtype)
    with db.write() as session:
        corpus = Corpus(
            name=name,
            characters=count.characters,
            tokens=count.tokens,
            vocabulary_size=dictionary.size,
            unknown_threshold=unknown_threshold,
            unknown_token_fraction=float(np.count_nonzero(ids == 0) / ids.size),
            sha256=count.sha256.hexdigest(),
            dictionary=dictionary.to_json(),
            token_ids=ids.tobytes(),
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
    return create_corpus(db, chunks_of_text(text), DEMO_CORPUS_NAME, unknown_threshold=3).id
