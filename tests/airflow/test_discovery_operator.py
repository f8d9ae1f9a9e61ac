"""DiscoverChannelMessagesOperator against the simulator while the inbox changes under it (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.operators.discovery import DiscoverChannelMessagesOperator
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.metrics import RequestLogEntry
from airflow_provider_hubspot_channels.simulator.state import DEFAULT_INBOX_ID
from tests.conftest import connection_json

pytestmark = pytest.mark.airflow

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
#: One more thread than the client's page of 100, so the listing has a second page to move a thread onto.
THREADS = 102


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubSpotSimulator]:
    # No rate limit on either side: the test is about paging, and ~105 requests would otherwise be paced.
    with HubSpotSimulator(rate_limit=None) as simulator:
        value = connection_json(
            simulator.base_url, password=simulator.access_token, channel_id=1001, max_requests_per_10s=100_000
        )
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", value)
        yield simulator


def on_request(sim: HubSpotSimulator, monkeypatch: pytest.MonkeyPatch, path_suffix: str, action: Any) -> list[str]:
    """Run ``action`` once, right after the simulator answered the first request whose path ends so.

    The answer is logged before it is sent, so the action happens before the client can ask anything else.
    """
    seen: list[str] = []
    record = sim.metrics.record

    def record_and_act(entry: RequestLogEntry) -> None:
        record(entry)
        if entry.path.endswith(path_suffix) and not seen:
            seen.append(entry.path)
            action()

    monkeypatch.setattr(sim.metrics, "record", record_and_act)
    return seen


def discover(**kwargs: Any) -> list[list[dict[str, Any]]]:
    operator = DiscoverChannelMessagesOperator(
        task_id="discover",
        inbox_id=DEFAULT_INBOX_ID,
        channel_id=1001,
        window_start=T0 - timedelta(hours=1),
        window_end=T0 + timedelta(hours=1),
        **kwargs,
    )
    return operator.execute({})  # type: ignore[arg-type]


def test_a_thread_that_moves_to_a_later_page_is_read_once(
    sim: HubSpotSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = [
        sim.add_message(1001, f"m{n:03d}", created_at=T0 + timedelta(seconds=n), recipient=f"+1555200{n:04d}")[
            "conversationsThreadId"
        ]
        for n in range(THREADS)
    ]
    assert len(set(threads)) == THREADS
    first = threads[0]
    # The customer of the first thread answers while discovery is reading it: the thread's latest activity
    # becomes the newest, so HubSpot's listing (sorted by latestMessageTimestamp) shows it again on page 2.
    moved = on_request(
        sim,
        monkeypatch,
        f"/threads/{first}/messages",
        lambda: sim.add_message(1001, "reply", direction="INCOMING", thread_id=int(first)),
    )

    batches = discover(batch_size=40)

    assert moved, "the thread was never read"
    listed = [e for e in sim.metrics.request_log if e.path.endswith("/threads")]
    assert len(listed) == 2  # the move put the thread on the second page
    ids = [record["message_id"] for batch in batches for record in batch]
    assert sorted(ids) == [f"m{n:03d}" for n in range(THREADS)]  # each exactly once
    reads_of_first = [e for e in sim.metrics.request_log if e.path.endswith(f"/threads/{first}/messages")]
    assert len(reads_of_first) == 1
