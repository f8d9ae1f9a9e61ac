"""``discover_records``: each thread read once and each message kept once, however the listing repeats them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import HubSpotChannelsClient
from airflow_provider_hubspot_channels.client.config import ClientConfig
from airflow_provider_hubspot_channels.reconciliation.discovery import discover_records
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.state import DEFAULT_INBOX_ID

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
START, END = T0 - timedelta(hours=1), T0 + timedelta(hours=1)


def test_threads_moving_between_small_pages_give_each_message_once() -> None:
    with HubSpotSimulator(rate_limit=None) as sim:
        threads = [
            sim.add_message(1001, f"m{n}", created_at=T0 + timedelta(minutes=n), recipient=f"+1555300{n:04d}")[
                "conversationsThreadId"
            ]
            for n in range(7)
        ]
        config = ClientConfig(base_url=sim.base_url, max_requests_per_10s=100_000)
        client = HubSpotChannelsClient(config=config, access_token=sim.access_token)
        listed: list[str] = []

        def listing() -> Iterator[dict[str, Any]]:
            for thread in client.iter_threads(
                inbox_id=DEFAULT_INBOX_ID, latest_message_timestamp_after=START.isoformat(), page_size=2
            ):
                listed.append(str(thread["id"]))
                yield thread

        def messages_of(thread_id: str) -> Iterator[dict[str, Any]]:
            # Between page reads, the customers of the threads on the first page answer: both move to the end.
            if thread_id in threads[:2]:
                sim.add_message(1001, f"reply-{thread_id}", direction="INCOMING", thread_id=int(thread_id))
            return client.iter_thread_messages(thread_id)

        try:
            found = discover_records(listing(), messages_of, channel_id=1001, window_start=START, window_end=END)
        finally:
            client.close()
    assert sorted(Counter(listed).values()) == [1] * 5 + [2, 2]  # the listing did repeat both threads
    assert [r["message_id"] for r in found.records] == [f"m{n}" for n in range(7)]
    assert (found.threads, found.repeated_threads, found.repeated_messages) == (7, 2, 0)


entries = st.fixed_dictionaries(
    {
        "id": st.sampled_from([f"m{n}" for n in range(8)]),
        "type": st.sampled_from(["MESSAGE", "MESSAGE", "COMMENT"]),
        "direction": st.sampled_from(["OUTGOING", "OUTGOING", "INCOMING"]),
        "channelId": st.sampled_from(["1001", "1001", "1002"]),
        "createdAt": st.sampled_from([START - timedelta(seconds=1), START, T0, END]).map(
            lambda t: t.isoformat().replace("+00:00", "Z")
        ),
    }
)
thread_ids = st.sampled_from([str(n) for n in range(1, 7)])


@settings(max_examples=300, deadline=None)
@given(
    contents=st.dictionaries(thread_ids, st.lists(entries, max_size=5)),
    listing=st.lists(st.tuples(thread_ids, st.sampled_from(["1001", "1001", "1002"])), max_size=15),
)
def test_each_thread_read_once_and_each_message_kept_once(
    contents: dict[str, list[dict[str, Any]]], listing: list[tuple[str, str]]
) -> None:
    # A thread's channel is fixed; the listing may repeat a thread any number of times, anywhere.
    channel_of = {thread_id: channel for thread_id, channel in reversed(listing)}
    threads = [{"id": t, "originalChannelId": channel_of[t]} for t, _ in listing]
    reads: Counter[str] = Counter()

    def messages_of(thread_id: str) -> list[Mapping[str, Any]]:
        reads[thread_id] += 1
        return contents.get(thread_id, [])

    found = discover_records(threads, messages_of, channel_id=1001, window_start=START, window_end=END)

    ours = [t["id"] for t in threads if t["originalChannelId"] == "1001"]
    assert reads == Counter(set(ours))
    assert (found.threads, found.repeated_threads) == (len(set(ours)), len(ours) - len(set(ours)))
    keys = [(r["channel_id"], r["message_id"]) for r in found.records]
    assert len(keys) == len(set(keys))
    wanted = {
        (1001, e["id"])
        for t in set(ours)
        for e in contents.get(t, [])
        if (e["type"], e["direction"], e["channelId"]) == ("MESSAGE", "OUTGOING", "1001")
        and START.isoformat().replace("+00:00", "Z") <= e["createdAt"] < END.isoformat().replace("+00:00", "Z")
    }
    assert set(keys) == wanted
