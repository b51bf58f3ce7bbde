"""Corpus pre-processing and the word dictionary for next-word prediction (the notes, s.4).

Pre-processing, in order: lower-case; newline -> space; delete every character that is not a-z,
space, apostrophe or hyphen; collapse runs of spaces; split; drop words that start with '-'.

The dictionary maps every word seen more than ``unknown_threshold`` times to an id and every other
word to ``UNKNOWN_TOKEN`` (id 0). It is stored as plain JSON, never pickled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

# The notes use "<???>". Ours is "<unk>": it can never collide with a real word because
# pre-processing deletes '<' and '>' (and '?') from every word of a corpus.
UNKNOWN_TOKEN = "<unk>"

# The notes' regex is [^a-z '\-]; deleting the complement of the allowed ASCII bytes after
# dropping non-ASCII characters is the same operation, and faster than re.sub on large corpora.
_ALLOWED = b"abcdefghijklmnopqrstuvwxyz '-"
_DELETE = bytes(b for b in range(128) if b not in _ALLOWED)


def preprocess(text: str) -> list[str]:
    """Split a raw text into words following the notes' rules (see the module docstring)."""
    return _words(_normalise(text).split(" "))


def _normalise(text: str) -> str:
    """Lower-case, newline -> space, and only a-z, space, apostrophe and hyphen kept.

    Character by character, so that a text cut anywhere normalises to the pieces' normal forms.
    """
    # Lower-case first: a few non-ASCII letters lower-case to ASCII ones (e.g. the Kelvin sign).
    text = text.lower().replace("\n", " ")
    return text.encode("ascii", "ignore").translate(None, _DELETE).decode("ascii")


def _words(pieces: Iterable[str]) -> list[str]:
    # Splitting on single spaces and dropping the empty strings == collapsing runs of spaces.
    return [w for w in pieces if w and not w.startswith("-")]


class WordSplitter:
    """`preprocess` for a text that arrives in pieces (an upload read chunk by chunk): feeding
    the pieces in order, then calling `finish`, yields the words `preprocess` gives the whole.

    The last word of a piece may go on in the next one, so it is held back until a space (or
    the end of the text) closes it.
    """

    def __init__(self) -> None:
        self._open_word = ""

    def feed(self, piece: str) -> list[str]:
        """The words that `piece` completes."""
        pieces = (self._open_word + _normalise(piece)).split(" ")
        self._open_word = pieces.pop()
        return _words(pieces)

    def finish(self) -> list[str]:
        """The text's last word, if it ended without a space."""
        word, self._open_word = self._open_word, ""
        return _words([word])


@dataclass(frozen=True)
class Dictionary:
    """Words by id (id 0 is ``UNKNOWN_TOKEN``) and how often each occurred in the corpus.

    ``counts[0]`` is the total number of occurrences of the words that became unknown.
    """

    words: list[str]
    counts: list[int]
    unknown_threshold: int = 3
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.words) != len(self.counts):
            raise ValueError("words and counts must have the same length")
        if not self.words or self.words[0] != UNKNOWN_TOKEN:
            raise ValueError(f"id 0 must be the unknown token {UNKNOWN_TOKEN!r}")
        if len(set(self.words)) != len(self.words):
            raise ValueError("dictionary words must be unique")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    @property
    def size(self) -> int:
        """Vocabulary size, the unknown token included."""
        return len(self.words)

    def id_of(self, word: str) -> int:
        """The id of ``word``; 0 (the unknown token) for any word not in the dictionary."""
        return self._index.get(word, 0)

    def encode(self, words: Iterable[str]) -> NDArray[np.int32]:
        """Ids of ``words`` as an int32 array (unknown words -> 0)."""
        get = self._index.get
        return np.fromiter((get(w, 0) for w in words), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of ``ids``."""
        return [self.words[int(i)] for i in ids]

    def to_json(self) -> dict[str, Any]:
        """A plain JSON-able dict (see ``from_json``)."""
        return {
            "unknown_token": UNKNOWN_TOKEN,
            "unknown_threshold": self.unknown_threshold,
            "words": list(self.words),
            "counts": [int(c) for c in self.counts],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Dictionary:
        """Rebuild a dictionary written by ``to_json``; ValueError on malformed data."""
        try:
            words = [str(w) for w in data["words"]]
            counts = [int(c) for c in data["counts"]]
            threshold = int(data.get("unknown_threshold", 3))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a dictionary: {exc}") from exc
        return cls(words=words, counts=counts, unknown_threshold=threshold)


def build_dictionary(words: Iterable[str], unknown_threshold: int = 3) -> Dictionary:
    """Count ``words``; those seen <= ``unknown_threshold`` times become the unknown token.

    Ids are deterministic: 0 is the unknown token, then descending frequency, ties alphabetical.
    """
    return dictionary_from_counts(Counter(words), unknown_threshold)


def dictionary_from_counts(counts: Mapping[str, int], unknown_threshold: int = 3) -> Dictionary:
    """`build_dictionary` from how often each word occurred (a text counted piece by piece)."""
    if unknown_threshold < 0:
        raise ValueError("unknown_threshold must be >= 0")
    counter = Counter(counts)
    total = sum(counter.values())
    # preprocess() never yields it; if a caller passes it anyway it counts as unknown.
    counter.pop(UNKNOWN_TOKEN, None)
    kept = sorted(
        ((w, c) for w, c in counter.items() if c > unknown_threshold),
        key=lambda wc: (-wc[1], wc[0]),
    )
    unknown_count = total - sum(c for _, c in kept)
    return Dictionary(
        words=[UNKNOWN_TOKEN, *(w for w, _ in kept)],
        counts=[unknown_count, *(c for _, c in kept)],
        unknown_threshold=unknown_threshold,
    )
