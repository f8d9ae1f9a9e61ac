"""Staleness: the exact SLA boundary, elapsed real time across time zones and DST, and policy validation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_hubspot_channels.client.errors import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import (
    DeliveryStatus,
    MessageRecord,
    StalenessPolicy,
    parse_timestamp,
)

REFERENCE = datetime(2026, 11, 24, 10, 20, tzinfo=timezone.utc)


def record(created_at: object, status: DeliveryStatus = DeliveryStatus.PENDING) -> MessageRecord:
    return MessageRecord(
        index=0,
        channel_id=1,
        message_id="m",
        created_at=parse_timestamp(created_at, field="created_at"),
        delivery_status=status,
        context={},
    )


def test_cutoff_is_reference_minus_sla() -> None:
    policy = StalenessPolicy(timedelta(minutes=15), REFERENCE)
    assert policy.cutoff == datetime(2026, 11, 24, 10, 5, tzinfo=timezone.utc)


def test_created_exactly_at_the_cutoff_is_stale_one_microsecond_later_is_not() -> None:
    policy = StalenessPolicy(timedelta(minutes=15), REFERENCE)
    cutoff = datetime(2026, 11, 24, 10, 5, tzinfo=timezone.utc)
    assert policy.is_stale(record(cutoff))
    assert not policy.is_stale(record(cutoff + timedelta(microseconds=1)))
    assert policy.is_stale(record(cutoff - timedelta(microseconds=1)))


@pytest.mark.parametrize("status", [DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.FAILED])
def test_settled_messages_are_never_stale_however_old(status: DeliveryStatus) -> None:
    policy = StalenessPolicy(timedelta(minutes=15), REFERENCE)
    assert not policy.is_stale(record("2026-11-01T00:00:00Z", status))


def test_message_created_after_the_reference_time_is_not_stale() -> None:
    policy = StalenessPolicy(timedelta(minutes=15), REFERENCE)
    assert not policy.is_stale(record(REFERENCE + timedelta(minutes=5)))
    assert policy.age(record(REFERENCE + timedelta(minutes=5))) == timedelta(minutes=-5)


def test_spring_forward_night_in_berlin_against_a_utc_reference() -> None:
    # 01:30 in Berlin on 2026-03-29 is still CET (UTC+1): 00:30 UTC, 30 real minutes before 01:00 UTC.
    created = pendulum.datetime(2026, 3, 29, 1, 30, tz="Europe/Berlin")
    reference = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
    assert StalenessPolicy(timedelta(minutes=30), reference).is_stale(record(created))
    assert not StalenessPolicy(timedelta(minutes=31), reference).is_stale(record(created))


def test_ambiguous_autumn_hour_in_berlin_counts_real_elapsed_time() -> None:
    reference = datetime(2026, 10, 25, 1, 45, tzinfo=timezone.utc)
    policy = StalenessPolicy(timedelta(hours=1), reference)
    earlier = pendulum.datetime(2026, 10, 25, 2, 30, tz="Europe/Berlin", fold=0)  # 00:30 UTC, 75 min old
    later = pendulum.datetime(2026, 10, 25, 2, 30, tz="Europe/Berlin", fold=1)  # 01:30 UTC, 15 min old
    assert policy.is_stale(record(earlier))
    assert not policy.is_stale(record(later))


def test_reference_in_new_york_across_the_dst_switch_uses_elapsed_time_not_wall_clock() -> None:
    # 01:50 EST to 03:05 EDT on 2026-03-08: the wall clock moved 75 minutes, real time only 15.
    created = pendulum.datetime(2026, 3, 8, 1, 50, tz="America/New_York")
    reference = pendulum.datetime(2026, 3, 8, 3, 5, tz="America/New_York")
    assert StalenessPolicy(timedelta(minutes=15), reference).is_stale(record(created))
    assert not StalenessPolicy(timedelta(minutes=16), reference).is_stale(record(created))


def test_policy_normalises_pendulum_reference_and_duration_forms() -> None:
    policy = StalenessPolicy(
        pendulum.duration(minutes=15),
        pendulum.datetime(2026, 11, 24, 11, 20, tz="Europe/Berlin"),
    )
    assert policy.reference_time == REFERENCE
    assert type(policy.reference_time) is datetime
    assert type(policy.stale_after) is timedelta


def test_naive_reference_time_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        StalenessPolicy(timedelta(minutes=15), datetime(2026, 11, 24, 10, 20))
    assert caught.value.field == "reference_time"


@pytest.mark.parametrize("stale_after", [timedelta(0), timedelta(minutes=-15)])
def test_non_positive_sla_is_refused(stale_after: timedelta) -> None:
    with pytest.raises(InvalidInputError) as caught:
        StalenessPolicy(stale_after, REFERENCE)
    assert caught.value.field == "stale_after"
