"""Issue 13, item 8: verify by thread. One Inbox listing answers every message of a thread, over real HTTP against
the bundled simulator; whatever the listing cannot answer falls back to the per-message GET."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotNotFoundError,
)
from airflow_provider_hubspot_channels.runner.lookup import StatusLookup
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.auth import CUSTOM_CHANNELS_READ, CUSTOM_CHANNELS_WRITE
from airflow_provider_hubspot_channels.validation import build_status_update

CHANNEL = 1001
STATUSES = (None, "SENT", "READ", "FAILED", "RECEIVED")


def client_for(sim: HubSpotSimulator, token: str | None = None) -> HubSpotChannelsClient:
    config = ClientConfig(base_url=sim.base_url, max_requests_per_10s=10_000, timeout=5)
    return HubSpotChannelsClient(config=config, access_token=token or sim.access_token, pool_size=16)


def seed_threads(
    sim: HubSpotSimulator, threads: int, per_thread: int, *, channel: int = CHANNEL, prefix: str = "m"
) -> list[tuple[str, str]]:
    """``threads`` threads of ``per_thread`` OUTGOING messages with mixed statuses: (message id, thread id)."""
    messages = []
    for t in range(threads):
        thread: str | None = None
        for i in range(per_thread):
            message_id = f"{prefix}-{t}-{i}"
            status = STATUSES[(t + i) % len(STATUSES)]
            extra = {"thread_id": int(thread)} if thread else {"recipient": f"+1555{channel}{t:04d}"}
            body = sim.add_message(channel, message_id, "OUTGOING", status_type=status, **extra)
            thread = str(body["conversationsThreadId"])
            messages.append((message_id, thread))
    return messages


def api_requests(sim: HubSpotSimulator) -> Counter[str]:
    """Requests the simulator answered, by kind: ``listing`` (Inbox thread messages) or ``get`` (one message)."""
    kinds: Counter[str] = Counter()
    for entry in sim.request_log:
        if entry.method == "GET":
            kinds["listing" if "/threads/" in entry.path else "get"] += 1
        else:
            kinds[entry.method] += 1
    return kinds


def same_view(listed: dict[str, object], fetched: dict[str, object]) -> bool:
    """The fields verify reads agree between a listed message and its GET."""
    return all(listed.get(k) == fetched.get(k) for k in ("id", "channelId", "direction", "status"))


def test_the_simulator_lists_each_message_with_its_status_and_direction(simulator: HubSpotSimulator) -> None:
    """Fidelity: HubSpot's 2026-09 listing carries ``status`` and ``direction`` like the custom-channels GET."""
    (message_id, thread), *_ = seed_threads(simulator, 1, 5)
    simulator.add_message(CHANNEL, "in-1", "INCOMING", thread_id=int(thread))
    with client_for(simulator) as client:
        listed = {m["id"]: m for m in client.list_thread_messages(thread, max_pages=1).body["results"]}
        for message_id in [f"m-0-{i}" for i in range(5)] + ["in-1"]:
            fetched = client.read_message(CHANNEL, message_id).body
            assert same_view(listed[message_id], fetched), (listed[message_id], fetched)
    assert listed["in-1"]["direction"] == "INCOMING"


def test_four_messages_per_thread_cost_one_request_each_thread(simulator: HubSpotSimulator) -> None:
    messages = seed_threads(simulator, 10, 4)
    with client_for(simulator) as client:
        by_thread = StatusLookup(client, by_thread=True)
        answers = [by_thread.read(CHANNEL, m, t) for m, t in messages]
        assert sum(a.requests for a in answers) == 10
        assert api_requests(simulator) == {"listing": 10}
        assert [a.requests for a in answers] == [1, 0, 0, 0] * 10
        for (message_id, _), answer in zip(messages, answers, strict=True):
            assert same_view(answer.body, client.read_message(CHANNEL, message_id).body)


def test_without_by_thread_or_a_thread_id_every_message_is_one_get(simulator: HubSpotSimulator) -> None:
    messages = seed_threads(simulator, 3, 4)
    with client_for(simulator) as client:
        per_message = StatusLookup(client, by_thread=False)
        no_thread = StatusLookup(client, by_thread=True)
        answers = [per_message.read(CHANNEL, m, t) for m, t in messages]
        answers += [
            no_thread.read(CHANNEL, m, bad) for (m, _), bad in zip(messages, [None, "", "12a", " "] * 3, strict=True)
        ]
    assert [a.requests for a in answers] == [1] * 24
    assert api_requests(simulator) == {"get": 24}


def test_eight_workers_asking_for_the_same_threads_list_each_thread_once() -> None:
    # 50 ms per answer: workers asking for one thread overlap while its listing is in flight
    with HubSpotSimulator(latency=0.05) as sim, client_for(sim) as client:
        messages = seed_threads(sim, 6, 4)
        random.Random(13).shuffle(messages)
        lookup = StatusLookup(client, by_thread=True)
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda mt: lookup.read(CHANNEL, *mt), messages))
        assert api_requests(sim) == {"listing": 6}
        assert sum(a.requests for a in answers) == 6
        assert sorted(a.body["id"] for a in answers) == sorted(m for m, _ in messages)


def test_a_token_without_conversations_read_falls_back_to_gets_for_the_run(simulator: HubSpotSimulator) -> None:
    messages = seed_threads(simulator, 3, 4)
    token = simulator.issue_token(scopes=[CUSTOM_CHANNELS_READ, CUSTOM_CHANNELS_WRITE])
    with client_for(simulator, token) as client:
        lookup = StatusLookup(client, by_thread=True)
        answers = [lookup.read(CHANNEL, m, t) for m, t in messages]
        assert lookup.listing_refused
        # the refused listing and the first GET, then one GET per message: the refusal is asked for once
        assert [a.requests for a in answers] == [2] + [1] * 11
        assert api_requests(simulator) == {"listing": 1, "get": 12}
        for (message_id, _), answer in zip(messages, answers, strict=True):
            assert answer.body["id"] == message_id and "direction" in answer.body
        # the remembered Inbox refusal does not refuse the custom-channels write either
        written = client.write_status(build_status_update(CHANNEL, messages[0][0], "FAILED", "no receipt"))
        assert written.body["status"]["statusType"] == "FAILED"


def test_a_thread_larger_than_the_bound_reads_its_older_messages_one_by_one(simulator: HubSpotSimulator) -> None:
    messages = seed_threads(simulator, 1, 150)
    thread = messages[0][1]
    with client_for(simulator) as client:
        lookup = StatusLookup(client, by_thread=True, max_pages=1)
        newest = lookup.read(CHANNEL, "m-0-149", thread)
        oldest = lookup.read(CHANNEL, "m-0-0", thread)
        newer = lookup.read(CHANNEL, "m-0-100", thread)
        assert (newest.requests, oldest.requests, newer.requests) == (1, 1, 0)
        assert oldest.body["id"] == "m-0-0" and "status" not in oldest.body  # (t + i) % 5 == 0: no status yet
    assert api_requests(simulator) == {"listing": 1, "get": 1}


def test_a_message_missing_from_its_listing_is_read_with_a_get(simulator: HubSpotSimulator) -> None:
    (_, thread_a), *_ = seed_threads(simulator, 1, 2, prefix="a")
    simulator.add_message(CHANNEL, "elsewhere", "OUTGOING", status_type="SENT", recipient="+15550000999")
    with client_for(simulator) as client:
        lookup = StatusLookup(client, by_thread=True)
        wrong_thread = lookup.read(CHANNEL, "elsewhere", thread_a)  # the store holds the wrong thread id
        assert wrong_thread.requests == 2 and wrong_thread.body["status"]["statusType"] == "SENT"
        with pytest.raises(HubSpotNotFoundError) as info:
            lookup.read(CHANNEL, "no-such-message", thread_a)
        assert info.value.requests == 1  # the listing is cached: only the GET
        unknown_thread = lookup.read(CHANNEL, "a-0-0", "999999999")  # a listing error (404): the GET answers
        assert unknown_thread.requests == 2 and unknown_thread.body["id"] == "a-0-0"
    assert api_requests(simulator) == {"listing": 2, "get": 3}


def test_a_listing_older_than_its_age_bound_is_read_again(simulator: HubSpotSimulator) -> None:
    messages = seed_threads(simulator, 1, 3)
    with client_for(simulator) as client:
        for max_age, expected in ((60.0, "SENT"), (0.0, "READ")):
            lookup = StatusLookup(client, by_thread=True, max_age_seconds=max_age)
            lookup.read(CHANNEL, messages[0][0], messages[0][1])
            client.write_status(build_status_update(CHANNEL, messages[1][0], "READ"))  # m-0-1 was SENT
            seen = lookup.read(CHANNEL, messages[1][0], messages[1][1]).body["status"]["statusType"]
            assert seen == expected, max_age
            client.write_status(build_status_update(CHANNEL, messages[1][0], "SENT"))


def test_a_message_served_once_is_read_with_a_get_the_next_time(simulator: HubSpotSimulator) -> None:
    """A served message is written next: its listed status is out of date from then on."""
    (message_id, thread), _ = seed_threads(simulator, 1, 2)
    with client_for(simulator) as client:
        lookup = StatusLookup(client, by_thread=True)
        assert lookup.read(CHANNEL, message_id, thread).requests == 1
        client.write_status(build_status_update(CHANNEL, message_id, "FAILED", "no receipt"))
        again = lookup.read(CHANNEL, message_id, thread)
    assert again.requests == 1 and again.body["status"]["statusType"] == "FAILED"
    assert api_requests(simulator) == {"listing": 1, "PATCH": 1, "get": 1}


def test_the_least_recently_used_thread_is_dropped_beyond_the_bound(simulator: HubSpotSimulator) -> None:
    messages = seed_threads(simulator, 3, 2)
    (a0, ta), (a1, _), (b0, tb), _, (c0, tc), _ = messages
    with client_for(simulator) as client:
        lookup = StatusLookup(client, by_thread=True, max_threads=2)
        costs = [lookup.read(CHANNEL, m, t).requests for m, t in ((a0, ta), (b0, tb), (c0, tc), (a1, ta))]
    assert costs == [1, 1, 1, 1]  # thread a was dropped when c was listed, so a1 lists it again
    assert api_requests(simulator) == {"listing": 4}


@pytest.fixture(scope="module")
def shared_simulator() -> Iterator[HubSpotSimulator]:
    with HubSpotSimulator(rate_limit=None) as sim:  # hundreds of requests per second: no 429 waits
        yield sim


channel_numbers = iter(range(5000, 6000))

layout = st.lists(
    st.tuples(
        st.integers(1, 6),  # messages in the thread
        st.lists(st.sampled_from(STATUSES), min_size=6, max_size=6),
        st.lists(st.sampled_from(("OUTGOING", "INCOMING")), min_size=6, max_size=6),
    ),
    min_size=1,
    max_size=5,
)
thread_hint = st.sampled_from(("right", "none", "wrong", "garbage"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(threads=layout, hints=st.lists(thread_hint, min_size=30, max_size=30), max_pages=st.integers(1, 2))
def test_any_layout_reads_what_the_get_reads_for_at_most_a_listing_more_per_thread(
    shared_simulator: HubSpotSimulator,
    threads: list[tuple[int, list[str | None], list[str]]],
    hints: list[str],
    max_pages: int,
) -> None:
    """Whatever the thread sizes, statuses, directions and thread ids the store holds (right, missing, another
    thread's, not a number), each read answers the message the GET answers, and costs at most one listing of each
    thread plus one GET per message."""
    sim = shared_simulator
    channel = next(channel_numbers)
    sim.add_channel(channel)
    seeded: list[tuple[str, str]] = []
    for t, (size, statuses, directions) in enumerate(threads):
        thread: str | None = None
        for i in range(size):
            extra = {"thread_id": int(thread)} if thread else {"recipient": f"+1666{channel}{t:03d}"}
            body = sim.add_message(channel, f"h-{t}-{i}", directions[i], status_type=statuses[i], **extra)
            thread = str(body["conversationsThreadId"])
            seeded.append((f"h-{t}-{i}", thread))
    other = {t for _, t in seeded}
    with client_for(sim) as client:
        lookup = StatusLookup(client, by_thread=True, max_pages=max_pages)
        spent = 0
        for (message_id, thread), hint in zip(seeded, hints, strict=False):
            given_thread = {
                "right": thread,
                "none": None,
                "wrong": min(other - {thread}, default=thread),
                "garbage": "thread-7",
            }[hint]
            answer = lookup.read(channel, message_id, given_thread)
            spent += answer.requests
            assert same_view(answer.body, client.read_message(channel, message_id).body)
    assert spent <= len(seeded) + len(other)
