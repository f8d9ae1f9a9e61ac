"""Issue 13, verify by thread: ``list_thread_messages`` reads a bounded number of pages and counts its requests."""

from __future__ import annotations

import pytest

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotNotFoundError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

from ._servers import ScriptedServer, json_reply

CHANNEL = 1001


def client_for(base_url: str, token: str = "t" * 20) -> HubSpotChannelsClient:
    config = ClientConfig(base_url=base_url, max_requests_per_10s=10_000, timeout=5)
    return HubSpotChannelsClient(config=config, access_token=token)


def thread_of(sim: HubSpotSimulator, count: int) -> str:
    first = sim.add_message(CHANNEL, "m-0", "OUTGOING", status_type="SENT")
    thread = int(first["conversationsThreadId"])
    for i in range(1, count):
        sim.add_message(CHANNEL, f"m-{i}", "OUTGOING" if i % 2 else "INCOMING", thread_id=thread)
    return str(thread)


def test_a_listing_of_two_pages_costs_two_requests(simulator: HubSpotSimulator) -> None:
    thread = thread_of(simulator, 150)
    with client_for(simulator.base_url, simulator.access_token) as client:
        answer = client.list_thread_messages(thread, max_pages=3)
    ids = {m["id"] for m in answer.body["results"] if m.get("type") == "MESSAGE"}
    assert ids == {f"m-{i}" for i in range(150)}
    assert answer.requests == 2 and "paging" not in answer.body


def test_a_listing_longer_than_the_bound_stops_and_says_there_is_more(simulator: HubSpotSimulator) -> None:
    thread = thread_of(simulator, 250)
    with client_for(simulator.base_url, simulator.access_token) as client:
        answer = client.list_thread_messages(thread, max_pages=2)
    assert answer.requests == 2 and len(answer.body["results"]) == 200
    assert answer.body["paging"]["next"]["after"]
    # newest first: the messages a reconciliation asks about are the recent ones
    assert "m-249" in {m["id"] for m in answer.body["results"]}


def test_a_failed_page_reports_every_request_of_the_listing() -> None:
    pages = iter([json_reply(200, {"results": [{"id": "a"}], "paging": {"next": {"after": "c1"}}})])

    def answer(method, path, headers, body):
        return next(pages, json_reply(404, {"category": "OBJECT_NOT_FOUND", "message": "gone"}))

    with (
        ScriptedServer(answer) as server,
        client_for(server.base_url) as client,
        pytest.raises(HubSpotNotFoundError) as info,
    ):
        client.list_thread_messages("77", max_pages=3)
    assert info.value.requests == 2


@pytest.mark.parametrize("thread", ["", "12a", "-1", None])
def test_a_thread_id_that_is_not_digits_is_refused_before_any_request(thread: object) -> None:
    with client_for("http://127.0.0.1:9") as client, pytest.raises(InvalidInputError, match="thread_id"):
        client.list_thread_messages(thread, max_pages=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("pages", [0, -1, True, 1.5])
def test_max_pages_must_be_a_positive_int(pages: object) -> None:
    with client_for("http://127.0.0.1:9") as client, pytest.raises(InvalidInputError, match="max_pages"):
        client.list_thread_messages("7", max_pages=pages)  # type: ignore[arg-type]
