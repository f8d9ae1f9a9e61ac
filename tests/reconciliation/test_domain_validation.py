"""Ids shared by the domain and the client (issue 12): float columns, Unicode digits, huge numbers, surrogates."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.validation import (
    INT32_MAX,
    build_status_update,
    replace_lone_surrogates,
    shown,
    validate_channel_id,
    validate_message_id,
)


@pytest.mark.parametrize(("value", "expected"), [(1001.0, 1001), (1.0, 1), (float(INT32_MAX), INT32_MAX)])
def test_a_whole_float_is_a_channel_id(value: float, expected: int) -> None:
    # pandas turns an integer column with a gap into floats: 1001 arrives as 1001.0.
    assert validate_channel_id(value) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (1001.5, "fractional part"),
        (math.nan, "not a finite number"),
        (math.inf, "not a finite number"),
        (-math.inf, "not a finite number"),
        (0.0, "outside"),
        (2.0**31, "outside"),
        (1e300, "outside"),
    ],
)
def test_floats_that_are_no_channel_id_say_why(value: float, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_channel_id(value, field="messages[0].channel_id")
    assert caught.value.field == "messages[0].channel_id"
    assert problem in caught.value.problem


@pytest.mark.parametrize("value", ["²", "1²", "١٢٣", "\uff11\uff12", "12\u0660"])
def test_only_ascii_digits_make_a_channel_id(value: str) -> None:
    # '²'.isdigit() is True, and int('²') then raised a bare ValueError that aborted the batch.
    with pytest.raises(InvalidInputError, match="not a number"):
        validate_channel_id(value)


@pytest.mark.parametrize("value", ["9" * 5000, 10**5000], ids=["digit-string", "int"])
def test_huge_channel_ids_are_refused_without_a_crash(value: object) -> None:
    # int('9' * 5000) and repr(10**5000) raise a bare ValueError (Python's 4,300-digit limit).
    with pytest.raises(InvalidInputError) as caught:
        validate_channel_id(value)
    assert "outside" in caught.value.problem
    assert len(caught.value.problem) < 200


def test_leading_zeros_do_not_count_as_size() -> None:
    assert validate_channel_id("0" * 5000 + "7") == 7


def test_a_huge_integer_message_id_is_refused_without_a_crash() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_message_id(10**5000)
    assert "digits" in caught.value.problem


@pytest.mark.parametrize("value", ["m-\ud83d", "\ude00", "a\ud83d\ude00b"])
def test_a_message_id_with_surrogates_is_refused(value: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_message_id(value)
    assert "surrogate" in caught.value.problem
    str(caught.value).encode("utf-8")


def test_surrogate_pairs_are_joined_and_lone_halves_replaced() -> None:
    assert replace_lone_surrogates("a\ud83d\ude00b") == "a\U0001f600b"
    assert replace_lone_surrogates("a\ud83d b\ude00") == "a\ufffd b\ufffd"
    assert replace_lone_surrogates("plain é") == "plain é"


def test_shown_is_short_and_safe_for_any_value() -> None:
    assert shown("abc") == "'abc'"
    assert "digits" in shown(10**5000)
    assert len(shown("x" * 10_000)) <= 60
    assert shown([10**5000]) == "a list"


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.integers(),
        st.integers(min_value=10**1000, max_value=10**6000),
        st.floats(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_ids_are_valid_or_refused_with_invalid_input_error(value: object) -> None:
    for validate in (validate_channel_id, validate_message_id):
        try:
            result = validate(value, field="messages[1].x")
        except InvalidInputError as error:
            assert error.field == "messages[1].x"
            str(error).encode("utf-8")
        else:
            str(result).encode("utf-8")
    try:
        channel = validate_channel_id(value)
    except InvalidInputError:
        return
    assert 0 < channel <= INT32_MAX


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_replaced_text_always_encodes_as_utf8(text: str) -> None:
    replaced = replace_lone_surrogates(text)
    replaced.encode("utf-8")
    assert len(replaced) <= len(text)


@pytest.mark.parametrize(
    ("args", "field", "problem"),
    [
        ((1, "m", "FAILED", "Not delivered \ud83d"), "error_message", "surrogate"),
        ((1, "m", 10**5000), "status_type", "digits"),
        ((1, "m", "FAILED", 10**5000), "error_message", "digits"),
    ],
    ids=["surrogate-error-message", "huge-status", "huge-error-message"],
)
def test_status_updates_refuse_broken_text_and_huge_numbers(args: tuple[object, ...], field: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_status_update(*args)
    assert caught.value.field == field
    assert problem in caught.value.problem
