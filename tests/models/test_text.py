"""Corpus pre-processing rules (SEEDS.md section 4) and the dictionary."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.models.text import (
    UNKNOWN_TOKEN,
    Dictionary,
    WordSplitter,
    build_dictionary,
    preprocess,
)


def test_lower_cases():
    assert preprocess("The CAT") == ["the", "cat"]


def test_newline_becomes_a_space():
    assert preprocess("end\nstart") == ["end", "start"]
    assert preprocess("a\r\nb") == ["a", "b"]  # '\r' is deleted, '\n' separates


def test_deletes_everything_but_letters_space_apostrophe_hyphen():
    assert preprocess("don't, well-known; 42 caf\u00e9! <unk>?") == [
        "don't",
        "well-known",
        "caf",
        "unk",
    ]
    assert preprocess("tab\tbed") == ["tabbed"]  # a tab is deleted, not a separator


def test_collapses_runs_of_spaces():
    assert preprocess("  a    b  ") == ["a", "b"]
    assert preprocess("a , b") == ["a", "b"]  # the comma leaves two spaces behind


def test_drops_words_starting_with_a_hyphen():
    assert preprocess("well -- -ish x-ray a-") == ["well", "x-ray", "a-"]


def test_empty_and_symbol_only_texts():
    assert preprocess("") == []
    assert preprocess("123 !!! \n") == []


def test_matches_the_notes_regex_on_a_mixed_text():
    text = "First Citizen:\nBefore we proceed -- any further, hear me SPEAK.\n\u00c9t\u00e9 x's\t\n"
    s = re.sub(r"[^a-z '\-]", "", text.lower().replace("\n", " "))
    expected = [w for w in re.sub(" +", " ", s).strip().split(" ") if not w.startswith("-")]
    assert preprocess(text) == expected


def test_unknown_token_cannot_come_out_of_preprocessing():
    assert UNKNOWN_TOKEN not in preprocess(f"{UNKNOWN_TOKEN} {UNKNOWN_TOKEN.upper()}")


def test_threshold_three_or_fewer_is_unknown():
    words = ["a"] * 4 + ["b"] * 3 + ["c"] * 1 + ["d"] * 5
    d = build_dictionary(words)
    assert d.words == [UNKNOWN_TOKEN, "d", "a"]
    assert d.counts == [4, 5, 4]  # 3 b's + 1 c became unknown
    assert d.id_of("b") == d.id_of("c") == d.id_of("never seen") == 0
    d0 = build_dictionary(words, unknown_threshold=0)
    assert d0.words == [UNKNOWN_TOKEN, "d", "a", "b", "c"]
    assert d0.counts[0] == 0


def test_ids_are_deterministic_frequency_then_alphabetical():
    words = ["pear", "apple", "fig"] * 4 + ["zebra"] * 9
    for order in (words, list(reversed(words))):
        d = build_dictionary(order)
        assert d.words == [UNKNOWN_TOKEN, "zebra", "apple", "fig", "pear"]


def test_encode_and_decode():
    d = build_dictionary(["x"] * 5 + ["y"] * 4 + ["z"])
    ids = d.encode(["y", "z", "x", "w"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [2, 0, 1, 0]
    assert d.decode(ids) == ["y", UNKNOWN_TOKEN, "x", UNKNOWN_TOKEN]
    assert len(d) == d.size == 3


def test_json_round_trip():
    d = build_dictionary(preprocess("the cat and the dog and the bird " * 4), unknown_threshold=4)
    data = json.loads(json.dumps(d.to_json()))
    back = Dictionary.from_json(data)
    assert back == d
    assert back.unknown_threshold == 4
    assert back.id_of("the") == d.id_of("the")


def test_from_json_rejects_malformed_data():
    with pytest.raises(ValueError):
        Dictionary.from_json({"words": ["a"]})
    with pytest.raises(ValueError):
        Dictionary.from_json({"words": ["a", "b"], "counts": [1, 2]})  # no unknown token first
    with pytest.raises(ValueError):
        Dictionary.from_json({"words": [UNKNOWN_TOKEN, "a", "a"], "counts": [0, 1, 1]})


def test_dictionary_is_frozen():
    d = build_dictionary(["a"] * 4)
    with pytest.raises(AttributeError):
        d.words = []  # type: ignore[misc]


def test_two_million_words_is_fast():
    import time

    words = [f"w{i % 20000}" for i in range(2_000_000)]
    start = time.perf_counter()
    d = build_dictionary(words)
    ids = d.encode(words)
    elapsed = time.perf_counter() - start
    assert len(ids) == 2_000_000 and len(d) == 20001
    assert elapsed < 5.0, f"dictionary + encode of 2M words took {elapsed:.1f} s"


# Letters, the separators and the characters pre-processing deletes or folds (a Kelvin sign
# lower-cases to "k", a dotted capital I to "i" and a combining dot).
TEXT = st.text(alphabet=st.sampled_from("abAB -'\n\r\t,.!?<>\u212a\u0130\u00e9\u03a3z"))


@given(text=TEXT, cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_a_text_split_in_pieces_gives_the_words_of_the_whole(text: str, cuts: list[int]) -> None:
    bounds = sorted({min(cut, len(text)) for cut in cuts})
    pieces = [
        text[start:end] for start, end in zip([0, *bounds], [*bounds, len(text)], strict=True)
    ]
    splitter = WordSplitter()
    words = [word for piece in pieces for word in splitter.feed(piece)] + splitter.finish()
    assert words == preprocess(text)


def test_a_word_cut_between_pieces_is_one_word() -> None:
    splitter = WordSplitter()
    assert splitter.feed("the ca") == ["the"]
    assert splitter.feed("t sat") == ["cat"]
    assert splitter.finish() == ["sat"]
    assert splitter.finish() == []
