"""Timestamps and durations: every accepted form lands on the same UTC instant, every doubtful one is refused."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_hubspot_channels.client.errors import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import parse_duration, parse_reference_time, parse_timestamp

# 2026-11-24T10:00:00Z, computed independently: (20781 days * 86400 + 10 * 3600) * 1000.
INSTANT_MS = 1795514400000
INSTANT = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-24T10:00:00Z",
        "2026-11-24T10:00:00z",
        "2026-11-24T11:00:00+01:00",
        "2026-11-24T05:00:00-05:00",
        "  2026-11-24T10:00:00+00:00  ",
        "2026-328T10:00Z",  # ordinal date: only pendulum reads it
        INSTANT_MS,
        float(INSTANT_MS),
        str(INSTANT_MS),
        pendulum.datetime(2026, 11, 24, 11, 0, tz="Europe/Berlin"),
        datetime(2026, 11, 24, 19, 0, tzinfo=timezone(timedelta(hours=9))),
    ],
)
def test_every_accepted_form_gives_the_same_utc_instant(value: object) -> None:
    parsed = parse_timestamp(value, field="created_at")
    assert parsed == INSTANT
    assert type(parsed) is datetime
    assert parsed.tzinfo is timezone.utc


def test_epoch_milliseconds_keep_their_milliseconds() -> None:
    assert parse_timestamp(INSTANT_MS + 123, field="t") == INSTANT + timedelta(milliseconds=123)
    assert parse_timestamp(f"{INSTANT_MS}.5", field="t") == INSTANT + timedelta(microseconds=500)


def test_epoch_seconds_are_refused_with_the_millisecond_fix() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_timestamp(INSTANT_MS // 1000, field="messages[0].created_at")
    assert caught.value.field == "messages[0].created_at"
    assert "epoch seconds" in caught.value.problem
    assert "send milliseconds" in caught.value.fix
    assert str(INSTANT_MS) in caught.value.fix


def test_epoch_seconds_as_digit_string_are_refused_too() -> None:
    with pytest.raises(InvalidInputError, match="epoch seconds"):
        parse_timestamp(str(INSTANT_MS // 1000), field="t")


def test_epoch_microseconds_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="microseconds"):
        parse_timestamp(INSTANT_MS * 1000, field="t")


def test_naive_datetime_is_refused_with_a_fix() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_timestamp(datetime(2026, 11, 24, 10, 0), field="messages[2].created_at")
    assert caught.value.field == "messages[2].created_at"
    assert "naive" in caught.value.problem
    assert "tzinfo" in caught.value.fix


@pytest.mark.parametrize("text", ["2026-11-24T10:00:00", "2026-11-24", "2026-328T10:00"])
def test_offset_less_iso_is_refused_as_ambiguous(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_timestamp(text, field="created_at")
    assert "no UTC offset" in caught.value.problem
    assert "+00:00" in caught.value.fix and "Z" in caught.value.fix


@pytest.mark.parametrize("value", ["yesterday", "", "2026-13-01T00:00:00Z", "10:00"])
def test_unparsable_strings_are_refused_naming_the_field(value: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_timestamp(value, field="messages[7].createdAt")
    assert caught.value.field == "messages[7].createdAt"
    assert "ISO 8601" in caught.value.problem


@pytest.mark.parametrize("value", [True, False, None, [INSTANT_MS], {"ms": INSTANT_MS}, float("nan"), -5])
def test_other_types_and_non_numbers_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_timestamp(value, field="t")


@pytest.mark.parametrize("value", ["1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z", 2 * 10**11])
def test_absurd_years_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError, match="2000 to 2099"):
        parse_timestamp(value, field="t")


def test_year_bounds_are_inclusive_of_2000_and_2099() -> None:
    assert parse_timestamp("2000-01-01T00:00:00Z", field="t").year == 2000
    assert parse_timestamp("2099-12-31T23:59:59Z", field="t").year == 2099


def test_ambiguous_autumn_hour_in_berlin_is_told_apart_by_fold() -> None:
    first = pendulum.datetime(2026, 10, 25, 2, 30, tz="Europe/Berlin", fold=0)  # still CEST
    second = pendulum.datetime(2026, 10, 25, 2, 30, tz="Europe/Berlin", fold=1)  # CET again
    assert parse_timestamp(first, field="t") == datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)
    assert parse_timestamp(second, field="t") == datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc)


def test_reference_time_uses_the_same_rules_and_its_own_field_name() -> None:
    assert parse_reference_time("2026-11-24T10:00:00Z") == INSTANT
    with pytest.raises(InvalidInputError) as caught:
        parse_reference_time("2026-11-24T10:00:00")
    assert caught.value.field == "reference_time"


def test_one_hundred_thousand_iso_strings_parse_well_under_a_second() -> None:
    texts = [f"2026-11-{day:02d}T{hour:02d}:{day + hour:02d}:00+01:00" for day in range(1, 29) for hour in range(24)]
    texts += [text.replace("+01:00", "Z") for text in texts]
    batch = (texts * (100_000 // len(texts) + 1))[:100_000]
    started = time.perf_counter()
    for text in batch:
        parse_timestamp(text, field="t")
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(minutes=15), timedelta(minutes=15)),
        (900, timedelta(minutes=15)),
        (90.5, timedelta(seconds=90.5)),
        ("900", timedelta(minutes=15)),
        (" 900 ", timedelta(minutes=15)),
        ("PT15M", timedelta(minutes=15)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(days=14)),
        (pendulum.duration(hours=2), timedelta(hours=2)),
        (timedelta(days=90), timedelta(days=90)),
    ],
)
def test_durations_in_every_accepted_form(value: object, expected: timedelta) -> None:
    parsed = parse_duration(value)
    assert parsed == expected
    assert type(parsed) is timedelta


@pytest.mark.parametrize("value", [0, -5, "0", "PT0S", "-PT5M", timedelta(0), timedelta(minutes=-1)])
def test_zero_and_negative_durations_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_duration(value)
    assert caught.value.field == "stale_after"
    assert caught.value.fix


@pytest.mark.parametrize("value", [timedelta(days=90, seconds=1), "P91D", 91 * 86400])
def test_durations_over_ninety_days_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError, match="90 days"):
        parse_duration(value, field="sla")


@pytest.mark.parametrize("value", ["P1M", "P1Y", pendulum.duration(months=1)])
def test_months_and_years_are_refused_as_variable_length(value: object) -> None:
    with pytest.raises(InvalidInputError, match="months"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["15 minutes", "soon", True, None, [900], float("inf")])
def test_non_durations_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_duration(value, field="stale_after")
    assert caught.value.field == "stale_after"
