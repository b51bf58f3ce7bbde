"""An error answer can always be written, whatever it echoes: each string, and each key, of
its JSON is UTF-8 once characters UTF-8 cannot hold (lone surrogates) are written as their
escapes; text that has none is sent as it is."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from rnnlab.service.api.errors import ErrorResponse

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
DETAILS = st.recursive(
    st.none() | st.integers() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=10,
)


@given(detail=DETAILS)
def test_any_detail_is_written_as_utf8_json(detail: object) -> None:
    body = ErrorResponse({"detail": detail}, status_code=422).body
    read = json.loads(body.decode("utf-8"))
    json.dumps(read, ensure_ascii=False).encode("utf-8")  # no surrogate is left in any string


@given(text=st.text(st.characters(codec="utf-8"), max_size=40))
def test_text_of_characters_is_sent_unchanged(text: str) -> None:
    body = ErrorResponse({"detail": [text], text: 1}, status_code=400).body
    assert json.loads(body) == {"detail": [text], text: 1}


def test_a_lone_surrogate_is_written_as_its_escape() -> None:
    body = ErrorResponse({"detail": "name \ud800", "loc": ["\udfff"]}).body
    assert json.loads(body) == {"detail": "name \\ud800", "loc": ["\\udfff"]}
