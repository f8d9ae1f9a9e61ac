"""Timestamps of any year HubSpot's RFC 3339 fields can hold: four-digit years before 1000, exact times before 1970
(found by schemathesis and by HubSpot's own SDK, whose parser refused ``999-12-31T...``)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import CC, CHANNEL, INBOX, INBOX_ID, Api, error_of, message_egg

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.timefmt import MAX_MS, MIN_MS, iso, parse_iso

# RFC 3339 date-time as HubSpot writes it: four-digit year, milliseconds, Z.
RFC3339_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


# ------------------------------------------------------------------------------------------------ years


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc), "0999-12-31T23:59:59.999Z"),
        (datetime(1, 1, 1, tzinfo=timezone.utc), "0001-01-01T00:00:00.000Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc), "9999-12-31T23:59:59.999Z"),
        (datetime(1969, 7, 20, 20, 17, 40, tzinfo=timezone.utc), "1969-07-20T20:17:40.000Z"),
    ],
)
def test_iso_writes_four_digit_years(moment: datetime, text: str) -> None:
    ms = round((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1000)
    assert iso(ms) == text
    assert parse_iso(text) == ms


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=MIN_MS, max_value=MAX_MS))
def test_iso_is_rfc3339_and_round_trips_for_every_representable_moment(ms: int) -> None:
    text = iso(ms)
    assert RFC3339_MS.fullmatch(text), text
    assert parse_iso(text) == ms


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_parse_iso_refuses_moments_outside_years_1_to_9999(text: str) -> None:
    with pytest.raises(ValueError, match="year"):
        parse_iso(text)


def test_published_message_before_year_1000_comes_back_rfc3339(api: Api) -> None:
    answer = api.post(f"{CC}/{CHANNEL}/messages", json=message_egg("0999-12-31T23:59:59.999Z"))
    assert answer.status_code == 201, answer.text
    message = answer.json()
    assert message["createdAt"] == "0999-12-31T23:59:59.999Z"
    thread = api.get(f"{INBOX}/threads/{message['conversationsThreadId']}/messages")
    assert thread.json()["results"][0]["createdAt"] == "0999-12-31T23:59:59.999Z"


def test_timestamp_that_leaves_year_9999_in_utc_is_400_naming_timestamp(sim: HubSpotSimulator, api: Api) -> None:
    before = sim.list_messages()
    answer = api.post(f"{CC}/{CHANNEL}/messages", json=message_egg("9999-12-31T23:00:00-05:00"))
    assert answer.status_code == 400
    body = error_of(answer)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["in"] == "timestamp"
    assert sim.list_messages() == before


# ------------------------------------------------------------------------------------- before 1970


def test_thread_timestamps_before_1970_are_exact(api: Api) -> None:
    answer = api.post(f"{CC}/{CHANNEL}/messages", json=message_egg("1969-07-20T20:17:40.000Z"))
    assert answer.status_code == 201, answer.text
    thread_id = answer.json()["conversationsThreadId"]
    threads = api.get(
        f"{INBOX}/threads",
        params={"inboxId": INBOX_ID, "latestMessageTimestampAfter": "1900-01-01T00:00:00Z", "limit": 500},
    ).json()["results"]
    thread = next(t for t in threads if t["id"] == thread_id)
    assert thread["createdAt"] == "1969-07-20T20:17:40.000Z"
    assert thread["latestMessageTimestamp"] == "1969-07-20T20:17:40.000Z"
    assert thread["latestMessageSentTimestamp"] == "1969-07-20T20:17:40.000Z"


def test_seeded_thread_before_1970_keeps_its_latest_message_time(sim: HubSpotSimulator) -> None:
    message = sim.add_message(CHANNEL, "moon", created_at="1969-07-20T20:17:40Z", direction="INCOMING")
    thread = sim.get_thread(int(message["conversationsThreadId"]))
    assert thread is not None
    assert thread["latestMessageTimestamp"] == "1969-07-20T20:17:40.000Z"
    assert thread["latestMessageReceivedTimestamp"] == "1969-07-20T20:17:40.000Z"
