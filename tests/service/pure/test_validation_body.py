"""The body of a 422 from request validation (service/api/validation.py), in process: at most
MAX_REPORTED_ERRORS problems and a count of the rest; what a client sent is echoed only when it is
a short string or a finite, not huge, number; long texts are cut; the project's own messages
replace pydantic's for text that is not Unicode and for the patterns it names."""

from __future__ import annotations

from typing import Any

import pytest

from rnnlab.service.api.validation import (
    MAX_ECHOED_CHARS,
    MAX_REPORTED_ERRORS,
    validation_error_body,
)
from rnnlab.service.schemas.text import NOT_UNICODE, NOT_UNICODE_MESSAGE, PATTERN_MESSAGES


def error(**fields: Any) -> dict[str, Any]:
    return {"type": "missing", "loc": ("body", "name"), "msg": "Field required", **fields}


def described(**fields: Any) -> dict[str, Any]:
    return validation_error_body([error(**fields)])["detail"][0]


@pytest.mark.parametrize("count", [0, 1, MAX_REPORTED_ERRORS - 1, MAX_REPORTED_ERRORS])
def test_up_to_the_cap_every_problem_is_listed(count: int) -> None:
    errors = [error(loc=("body", i)) for i in range(count)]
    body = validation_error_body(errors)
    assert body == {
        "detail": [
            {"type": "missing", "loc": ["body", i], "msg": "Field required"} for i in range(count)
        ]
    }


@pytest.mark.parametrize("extra", [1, 2, 500])
def test_past_the_cap_the_first_are_listed_and_the_rest_counted(extra: int) -> None:
    errors = [error(loc=("body", i)) for i in range(MAX_REPORTED_ERRORS + extra)]
    body = validation_error_body(errors)
    assert [d["loc"] for d in body["detail"]] == [["body", i] for i in range(MAX_REPORTED_ERRORS)]
    assert body["more_errors"] == extra


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -(10**20) + 1, 10**20 - 1, 1.5, -0.0, "", "x" * MAX_ECHOED_CHARS],
)
def test_short_finite_input_is_echoed(value: Any) -> None:
    assert described(input=value)["input"] == value


@pytest.mark.parametrize(
    "value",
    [10**20, -(10**20), float("nan"), float("inf"), float("-inf"), "x" * (MAX_ECHOED_CHARS + 1),
     b"bytes", ["a", "list"], {"a": "dict"}],
)  # fmt: skip
def test_long_huge_or_non_finite_input_is_not_echoed(value: Any) -> None:
    assert "input" not in described(input=value)


def test_no_input_no_echo() -> None:
    assert described() == {"type": "missing", "loc": ["body", "name"], "msg": "Field required"}


def test_long_names_and_messages_are_cut_saying_how_long_they_were() -> None:
    name = "n" * (MAX_ECHOED_CHARS + 1)
    message = "m" * 501
    got = described(loc=("body", name, 3), msg=message)
    assert got["loc"] == [
        "body",
        f"{'n' * MAX_ECHOED_CHARS}... ({MAX_ECHOED_CHARS + 1} characters)",
        3,
    ]
    assert got["msg"] == f"{'m' * 500}... (501 characters)"
    exact = described(loc=("body", "n" * MAX_ECHOED_CHARS), msg="m" * 500)
    assert exact["loc"] == ["body", "n" * MAX_ECHOED_CHARS] and exact["msg"] == "m" * 500


def test_ctx_values_are_echoed_when_short_and_cut_as_text_otherwise() -> None:
    got = described(ctx={"le": 10, "huge": 10**30, "pattern": "p" * 101, "nan": float("nan")})
    assert got["ctx"] == {
        "le": 10,
        "huge": str(10**30),
        "pattern": f"{'p' * 100}... (101 characters)",
        "nan": "nan",
    }
    assert "ctx" not in described(ctx={}) and "ctx" not in described(ctx=None)


def test_text_that_is_not_unicode_is_said_so() -> None:
    got = described(type=NOT_UNICODE, msg="pydantic's words", input="\ud800")
    assert got["msg"] == NOT_UNICODE_MESSAGE
    assert got["type"] == NOT_UNICODE


@pytest.mark.parametrize("pattern", sorted(PATTERN_MESSAGES))
def test_a_known_pattern_is_explained_and_the_text_not_echoed(pattern: str) -> None:
    got = described(
        type="string_pattern_mismatch", msg="String should match", input="a\x00b",
        ctx={"pattern": pattern},
    )  # fmt: skip
    assert got["msg"] == PATTERN_MESSAGES[pattern]
    assert "input" not in got
    assert got["ctx"] == {"pattern": pattern}


def test_an_unknown_pattern_keeps_pydantics_message_and_echoes_the_text() -> None:
    got = described(
        type="string_pattern_mismatch", msg="String should match", input="abc",
        ctx={"pattern": "^x$"},
    )  # fmt: skip
    assert (got["msg"], got["input"]) == ("String should match", "abc")


def test_a_known_pattern_under_another_type_is_not_rewritten() -> None:
    pattern = sorted(PATTERN_MESSAGES)[0]
    got = described(type="string_too_long", msg="too long", input="abc", ctx={"pattern": pattern})
    assert (got["msg"], got["input"]) == ("too long", "abc")
