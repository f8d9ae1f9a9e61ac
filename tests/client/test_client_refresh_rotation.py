"""Issue 12, defect 5: a rotated refresh token is handed out to be persisted, and a refresh that got no answer is
never retried without saying that the old refresh token may be burnt."""

from __future__ import annotations

import pytest

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotTokenRefreshError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator

FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.02)


def oauth_client(sim: HubSpotSimulator, **kwargs) -> HubSpotChannelsClient:
    return HubSpotChannelsClient(
        config=ClientConfig(base_url=sim.base_url, max_retries=3, timeout=5, max_requests_per_10s=1000),
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        refresh_token=sim.refresh_token,
        retry_policy=FAST,
        **kwargs,
    )


def test_a_rotated_refresh_token_is_masked_then_handed_out():
    events: list[tuple[str, str]] = []
    with HubSpotSimulator(rotate_refresh_tokens=True, token_lifetime=1800) as sim:
        first = sim.refresh_token
        with oauth_client(
            sim,
            on_new_token=lambda t: events.append(("mask", t)),
            on_refresh_token_rotated=lambda t: events.append(("rotated", t)),
        ) as client:
            client.authenticate()
            (rotated,) = [t for kind, t in events if kind == "rotated"]
            assert rotated != first
            assert events.index(("mask", rotated)) < events.index(("rotated", rotated))
            # The rotated token works: a client built from it (what the hook persists) can refresh again.
        events.clear()
        with HubSpotChannelsClient(
            config=ClientConfig(base_url=sim.base_url),
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            refresh_token=rotated,
            on_refresh_token_rotated=lambda t: events.append(("rotated", t)),
        ) as again:
            again.authenticate()
        assert len(events) == 1


def test_an_unchanged_refresh_token_is_not_reported():
    rotated: list[str] = []
    with (
        HubSpotSimulator(rotate_refresh_tokens=False) as sim,
        oauth_client(sim, on_refresh_token_rotated=rotated.append) as client,
    ):
        client.authenticate()
    assert rotated == []


def test_a_refresh_refused_after_one_that_got_no_answer_says_the_token_may_be_burnt():
    # The first token POST lands (HubSpot rotates the refresh token) but its answer is lost; the retry with the
    # old refresh token is refused. The error must say what happened and what to do, not just "invalid grant".
    faults = FaultConfig(script=("reset_after",), only_paths=("/oauth/*",))
    with HubSpotSimulator(rotate_refresh_tokens=True, faults=faults) as sim, oauth_client(sim) as client:
        sim.add_message(1001, "m-1")
        with pytest.raises(HubSpotTokenRefreshError) as info:
            client.get_message(1001, "m-1")
        assert sim.token_requests == 2  # one retry, then no more: the refusal is final
        api = [e for e in sim.request_log if not e.path.startswith("/oauth")]
        assert api == []
    text = str(info.value)
    assert "an earlier refresh attempt got no answer" in text
    assert "re-authorize the installation and update the connection's refresh_token" in text
    assert info.value.retry_may_succeed is False


def test_a_plain_refusal_does_not_blame_a_lost_answer():
    with HubSpotSimulator(rotate_refresh_tokens=True) as sim:
        sim.revoke_refresh_token(sim.refresh_token)
        with oauth_client(sim) as client, pytest.raises(HubSpotTokenRefreshError) as info:
            client.authenticate()
    assert "no answer" not in str(info.value)


def test_a_rotated_refresh_token_is_kept_even_when_the_access_token_is_refused():
    from ._servers import ScriptedServer, json_reply

    rotated: list[str] = []

    def answer(method, path, headers, body):
        return json_reply(200, {"access_token": "bad\ntoken-0123456789", "refresh_token": "refresh-2", "expires_in": 9})

    with ScriptedServer(answer) as server:
        client = HubSpotChannelsClient(
            config=ClientConfig(base_url=server.base_url, max_retries=0, timeout=2),
            client_id="id-1",
            client_secret="secret-1",
            refresh_token="refresh-1",
            on_refresh_token_rotated=rotated.append,
        )
        with client, pytest.raises(InvalidInputError, match="access_token"):
            client.authenticate()
    assert rotated == ["refresh-2"]
