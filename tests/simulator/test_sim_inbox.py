"""Conversations Inbox API: threads and thread messages, paging, filters, sorting, mixed message types."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sim_helpers import CHANNEL, INBOX, INBOX_ID, INBOX_V3, Api, error_of

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _seed_threads(sim: HubSpotSimulator, count: int) -> list[str]:
    ids = []
    for n in range(count):
        # Later threads get older messages, so id order and latestMessageTimestamp order differ.
        message = sim.add_message(CHANNEL, f"t{n}", created_at=NOW - timedelta(minutes=n), recipient=f"+1555100{n:04d}")
        ids.append(message["conversationsThreadId"])
    return ids


def _walk(api: Api, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    for _ in range(1000):
        answer = api.get(path, params={**params, **({"after": after} if after else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["results"]) <= params.get("limit", 20)
        items.extend(page["results"])
        after = page.get("paging", {}).get("next", {}).get("after")
        if after is None:
            return items
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("prefix", [INBOX, INBOX_V3])
@pytest.mark.parametrize(
    "params",
    [
        {"limit": 7},
        {"limit": 7, "sort": "latestMessageTimestamp", "latestMessageTimestampAfter": "2026-01-01T00:00:00Z"},
        {"limit": 1},
        {"limit": 500},
    ],
)
def test_threads_paging_has_no_duplicates_and_no_gaps(
    sim: HubSpotSimulator, api: Api, prefix: str, params: dict[str, Any]
) -> None:
    expected = _seed_threads(sim, 23)
    items = _walk(api, f"{prefix}/threads", {"inboxId": INBOX_ID, **params})
    ids = [t["id"] for t in items]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(expected)
    if params.get("sort") == "latestMessageTimestamp":
        stamps = [t["latestMessageTimestamp"] for t in items]
        assert stamps == sorted(stamps)
    else:
        assert [int(i) for i in ids] == sorted(int(i) for i in ids)


def test_thread_fields_and_default_page_size(sim: HubSpotSimulator, api: Api) -> None:
    _seed_threads(sim, 25)
    page = api.get(f"{INBOX}/threads", params={"inboxId": INBOX_ID}).json()
    assert len(page["results"]) == 20 and "next" in page["paging"]
    thread = page["results"][0]
    assert thread["originalChannelId"] == str(CHANNEL)
    assert thread["originalChannelAccountId"] == "2001"
    assert thread["inboxId"] == str(INBOX_ID)
    assert thread["status"] == "OPEN" and thread["archived"] is False
    assert int(thread["id"]) > 2**31  # int64 ids


def test_latest_message_timestamp_after_is_an_inclusive_filter(sim: HubSpotSimulator, api: Api) -> None:
    _seed_threads(sim, 10)
    cutoff = (NOW - timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    params = {"inboxId": INBOX_ID, "sort": "latestMessageTimestamp", "latestMessageTimestampAfter": cutoff}
    items = _walk(api, f"{INBOX}/threads", {**params, "limit": 3})
    assert items[0]["latestMessageTimestamp"] == cutoff
    assert len(items) == 5
    offset_form = (NOW - timedelta(minutes=4)).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert len(_walk(api, f"{INBOX}/threads", {**params, "latestMessageTimestampAfter": offset_form})) == 5


def test_threads_filter_by_inbox(sim: HubSpotSimulator, api: Api) -> None:
    _seed_threads(sim, 3)
    sim.add_inbox(3002, name="Sales")
    sim.add_channel_account(CHANNEL, 2002, inbox_id=3002)
    other = sim.add_message(CHANNEL, "sales-1", channel_account_id=2002)
    only = api.get(f"{INBOX}/threads", params={"inboxId": 3002}).json()["results"]
    assert [t["id"] for t in only] == [other["conversationsThreadId"]]
    assert len(api.get(f"{INBOX}/threads").json()["results"]) == 4
    assert api.get(f"{INBOX}/threads", params={"inboxId": 9999}).json()["results"] == []


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"inboxId": [INBOX_ID, 3002]}, "inboxId"),
        ({"inboxId": f"{INBOX_ID},3002"}, "inboxId"),
        ({"inboxId": "abc"}, "inboxId"),
        ({"sort": "latestMessageTimestamp"}, "latestMessageTimestampAfter"),
        ({"sort": "-id"}, "sort"),
        ({"latestMessageTimestampAfter": "2026-03-01T12:00:00"}, "latestMessageTimestampAfter"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"after": "not-a-cursor"}, "after"),
        ({"threadStatus": "SNOOZED"}, "threadStatus"),
    ],
)
def test_thread_query_is_validated(api: Api, params: dict[str, Any], where: str) -> None:
    answer = api.get(f"{INBOX}/threads", params=params)
    assert answer.status_code == 400
    body = error_of(answer)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["in"] == where


def _mixed_thread(sim: HubSpotSimulator) -> tuple[int, list[str]]:
    thread_id = int(sim.add_thread(CHANNEL, recipient="+15559990000", created_at=NOW)["id"])
    ids = [sim.add_welcome_message(thread_id, created_at=NOW + timedelta(seconds=1))["id"]]
    for n, direction in enumerate(["OUTGOING", "INCOMING", "OUTGOING", "INCOMING", "OUTGOING"]):
        at = NOW + timedelta(minutes=n + 1)
        ids.append(
            sim.add_message(CHANNEL, f"mix{n}", direction, at, "SENT" if n == 2 else None, thread_id=thread_id)["id"]
        )
        if n == 2:
            ids.append(sim.add_comment(thread_id, created_at=at + timedelta(seconds=5))["id"])
    return thread_id, ids


@pytest.mark.parametrize("prefix", [INBOX, INBOX_V3])
def test_thread_messages_mix_types_newest_first(sim: HubSpotSimulator, api: Api, prefix: str) -> None:
    thread_id, ids = _mixed_thread(sim)
    results = api.get(f"{prefix}/threads/{thread_id}/messages").json()["results"]
    assert [m["id"] for m in results] == list(reversed(ids))
    assert {m["type"] for m in results} == {"MESSAGE", "COMMENT", "WELCOME_MESSAGE"}
    assert {m.get("direction") for m in results if m["type"] == "MESSAGE"} == {"INCOMING", "OUTGOING"}
    ascending = api.get(f"{prefix}/threads/{thread_id}/messages", params={"sort": "createdAt"}).json()["results"]
    assert [m["id"] for m in ascending] == ids


@pytest.mark.parametrize("sort", ["createdAt", "-createdAt"])
def test_thread_messages_paging(sim: HubSpotSimulator, api: Api, sort: str) -> None:
    thread_id, ids = _mixed_thread(sim)
    walked = [m["id"] for m in _walk(api, f"{INBOX}/threads/{thread_id}/messages", {"limit": 2, "sort": sort})]
    assert walked == (ids if sort == "createdAt" else list(reversed(ids)))


def test_thread_messages_errors(sim: HubSpotSimulator, api: Api) -> None:
    thread_id, _ = _mixed_thread(sim)
    assert api.get(f"{INBOX}/threads/{thread_id + 1}/messages").status_code == 404
    assert error_of(api.get(f"{INBOX}/threads/abc/messages"))["errors"][0]["in"] == "threadId"
    assert api.get(f"{INBOX}/threads/{thread_id}/messages", params={"sort": "id"}).status_code == 400


def test_new_message_moves_its_thread_in_latest_order(sim: HubSpotSimulator, api: Api) -> None:
    ids = _seed_threads(sim, 3)
    params = {"sort": "latestMessageTimestamp", "latestMessageTimestampAfter": "2026-01-01T00:00:00Z"}
    before = [t["id"] for t in api.get(f"{INBOX}/threads", params=params).json()["results"]]
    assert before == list(reversed(ids))
    sim.add_message(CHANNEL, "late", "INCOMING", NOW + timedelta(hours=1), thread_id=int(ids[2]))
    after = [t["id"] for t in api.get(f"{INBOX}/threads", params=params).json()["results"]]
    assert after == [ids[1], ids[0], ids[2]]
    thread = sim.get_thread(int(ids[2]))
    assert thread is not None and thread["latestMessageReceivedTimestamp"] == "2026-03-01T13:00:00.000Z"
