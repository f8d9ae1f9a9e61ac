"""Timestamps, durations and the reference time at the edges (issue 12): one bad row never aborts a batch."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

import pendulum
import pytest

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import parse_batch, parse_duration, parse_timestamp
from airflow_provider_hubspot_channels.reconciliation.timestamps import check_reference_time

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


class _BrokenOffset(tzinfo):
    """A tzinfo whose utcoffset is not a timedelta: datetime raises TypeError when asked."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return "+01:00"  # type: ignore[return-value]

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


class _DayOffset(tzinfo):
    """A tzinfo with an offset of a whole day: datetime raises ValueError when asked."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=24)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+01:00".replace("T", " "),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 11, 24, tzinfo=_BrokenOffset()),
        datetime(2026, 11, 24, tzinfo=_DayOffset()),
        "9" * 5000,
        10**5000,
        "".join(chr(0xFF10 + int(digit)) for digit in "1795514400000"),
        "2026-11-24T10:00:00Z\ud83d",
    ],
    ids=[
        "year-1-plus-offset",
        "year-9999-minus-offset",
        "year-1-space",
        "datetime-year-1",
        "datetime-year-9999",
        "broken-tzinfo",
        "day-offset",
        "huge-digit-string",
        "huge-int",
        "full-width-digits",
        "surrogate",
    ],
)
def test_extreme_timestamps_are_invalid_input_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_timestamp(value, field="messages[3].created_at")
    assert caught.value.field == "messages[3].created_at"
    assert caught.value.fix
    str(caught.value).encode("utf-8")


def test_an_extreme_timestamp_is_one_invalid_row_not_a_failed_batch() -> None:
    rows = [
        {"channel_id": 1, "message_id": "a", "created_at": "0001-01-01T00:00:00+01:00"},
        {"channel_id": 1, "message_id": "b", "created_at": "2026-11-24T10:00:00Z"},
    ]
    records, invalid = parse_batch(rows)
    assert [record.message_id for record in records] == ["b"]
    assert invalid[0].field == "messages[0].created_at"


@pytest.mark.parametrize(
    "value",
    [
        "P1000000000D",
        "P999999999W",
        1e300,
        10**30,
        10**5000,
        "9" * 400,
        "9" * 5000,
        "1" + "0" * 400 + ".5",
        timedelta.max,
        pendulum.duration(days=999_999_999),
        "PT1e300S",
        "\u0661\u0662",
    ],
    ids=[
        "P1e9D",
        "P1e9W",
        "1e300",
        "10**30",
        "huge-int",
        "400-digits",
        "5000-digits",
        "400-digit-float",
        "timedelta-max",
        "pendulum-max",
        "exponent",
        "arabic-digits",
    ],
)
def test_huge_durations_are_invalid_input(value: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_duration(value, field="stale_after")
    assert caught.value.field == "stale_after"
    assert len(caught.value.problem) < 200


def test_check_reference_time_allows_a_small_clock_skew() -> None:
    assert check_reference_time(NOW + timedelta(minutes=4), now=NOW) == NOW + timedelta(minutes=4)
    assert check_reference_time(NOW - timedelta(days=30), now=NOW) == NOW - timedelta(days=30)


def test_check_reference_time_refuses_a_future_typo_with_the_fix() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_reference_time("2062-11-24T10:00:00Z", now=NOW)
    assert caught.value.field == "reference_time"
    assert "after the current time" in caught.value.problem
    assert "2026-11-24" in caught.value.problem
    assert "data_interval_end" in caught.value.fix


def test_check_reference_time_takes_field_and_skew() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_reference_time(NOW + timedelta(seconds=61), now=NOW, field="checked_at", max_skew=timedelta(minutes=1))
    assert caught.value.field == "checked_at"
    check_reference_time(NOW + timedelta(seconds=60), now=NOW, max_skew=timedelta(minutes=1))


def test_check_reference_time_normalises_like_parse_reference_time() -> None:
    berlin = pendulum.datetime(2026, 11, 24, 11, 0, tz="Europe/Berlin")
    result = check_reference_time(berlin, now=NOW)
    assert result == NOW
    assert result.tzinfo is timezone.utc
    with pytest.raises(InvalidInputError, match="naive"):
        check_reference_time(datetime(2026, 11, 24, 10, 0), now=NOW)
    with pytest.raises(InvalidInputError) as caught:
        check_reference_time(NOW, now=datetime(2026, 11, 24, 10, 0))
    assert caught.value.field == "now"
