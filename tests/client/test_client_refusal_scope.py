"""Issue 13, verify by thread: a 403 MISSING_SCOPES is remembered per endpoint family, not per HTTP method.

The Inbox API needs ``conversations.read``, the custom-channels GET ``conversations.custom_channels.read``: a token
may hold one and not the other, so a refused Inbox listing must not make every later message GET fail unsent.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, HubSpotPermissionError
from airflow_provider_hubspot_channels.client.client import _refusal_key
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.auth import (
    CONVERSATIONS_READ,
    CUSTOM_CHANNELS_READ,
    CUSTOM_CHANNELS_WRITE,
)

CHANNEL = 1001


def client_with(sim: HubSpotSimulator, scopes: list[str]) -> HubSpotChannelsClient:
    config = ClientConfig(base_url=sim.base_url, max_requests_per_10s=10_000, timeout=5)
    return HubSpotChannelsClient(config=config, access_token=sim.issue_token(scopes=scopes))


def seeded_message(sim: HubSpotSimulator) -> dict[str, object]:
    return sim.add_message(CHANNEL, "m-1", "OUTGOING", status_type="SENT")


def test_a_refused_inbox_listing_leaves_the_message_get_working(simulator: HubSpotSimulator) -> None:
    message = seeded_message(simulator)
    thread = message["conversationsThreadId"]
    with client_with(simulator, [CUSTOM_CHANNELS_READ, CUSTOM_CHANNELS_WRITE]) as client:
        with pytest.raises(HubSpotPermissionError) as info:
            list(client.iter_thread_messages(str(thread)))
        assert info.value.missing_scopes == [CONVERSATIONS_READ]
        answer = client.read_message(CHANNEL, "m-1")
        assert answer.body["id"] == "m-1" and answer.requests == 1


def test_a_refused_inbox_listing_is_remembered_for_the_inbox_family(simulator: HubSpotSimulator) -> None:
    thread = seeded_message(simulator)["conversationsThreadId"]
    with client_with(simulator, [CUSTOM_CHANNELS_READ]) as client:
        with pytest.raises(HubSpotPermissionError):
            list(client.iter_thread_messages(str(thread)))
        before = len(simulator.request_log)
        with pytest.raises(HubSpotPermissionError, match="not sent"):
            list(client.iter_thread_messages(str(thread)))
        assert len(simulator.request_log) == before


def test_a_refused_message_get_still_refuses_later_gets_without_a_request(simulator: HubSpotSimulator) -> None:
    seeded_message(simulator)
    with client_with(simulator, [CONVERSATIONS_READ, CUSTOM_CHANNELS_WRITE]) as client:
        with pytest.raises(HubSpotPermissionError):
            client.read_message(CHANNEL, "m-1")
        before = len(simulator.request_log)
        with pytest.raises(HubSpotPermissionError, match="not sent"):
            client.read_message(CHANNEL, "m-1")
        assert len(simulator.request_log) == before


segment = st.text(min_size=1, max_size=30).map(lambda text: quote(text, safe=""))


@settings(max_examples=200, deadline=None)
@given(channel=st.integers(1, 2**31 - 1), message=segment, thread=st.integers(1, 2**63 - 1), v3=st.booleans())
def test_every_path_of_a_family_shares_one_refusal_key(channel: int, message: str, thread: int, v3: bool) -> None:
    version = "v3" if v3 else "2026-03"
    config = ClientConfig(api_version=version, inbox_api_version=version)
    client = HubSpotChannelsClient(config=config, access_token="t" * 20)
    try:
        channels = client._channels_root()
        inbox = client._inbox_root()
        channel_keys = {
            _refusal_key("GET", path) for path in (f"{channels}/{channel}", f"{channels}/{channel}/messages/{message}")
        }
        inbox_keys = {_refusal_key("GET", path) for path in (f"{inbox}/threads", f"{inbox}/threads/{thread}/messages")}
    finally:
        client.close()
    assert len(channel_keys) == 1 and len(inbox_keys) == 1
    assert channel_keys != inbox_keys
    assert _refusal_key("PATCH", f"{channels}/{channel}/messages/{message}") not in channel_keys
