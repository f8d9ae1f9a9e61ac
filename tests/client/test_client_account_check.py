"""Issue 15: the token endpoint's answer names the account (``hub_id``); a refresh token of another account is never
used, so a wrong token in the integrator's store cannot write to another customer's HubSpot account."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, InvalidInputError
from airflow_provider_hubspot_channels.client.errors import HubSpotAccountMismatchError, HubSpotTokenRefreshError
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.client._servers import ScriptedServer, json_reply

FAST = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02)


def oauth_client(sim: HubSpotSimulator, expected_hub_id: str | None, **kwargs: Any) -> HubSpotChannelsClient:
    return HubSpotChannelsClient(
        config=ClientConfig(base_url=sim.base_url, max_retries=2, timeout=5, max_requests_per_10s=1000),
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        refresh_token=sim.refresh_token,
        retry_policy=FAST,
        expected_hub_id=expected_hub_id,
        **kwargs,
    )


def api_requests(sim: HubSpotSimulator) -> list[Any]:
    return [entry for entry in sim.request_log if "/oauth/" not in entry.path]


def test_the_matching_account_works():
    with HubSpotSimulator(hub_id=111) as sim, oauth_client(sim, "111") as client:
        message = sim.add_message(1001)
        client.update_message_status(1001, message["id"], "SENT")
        assert sim.get_message(1001, message["id"])["status"]["statusType"] == "SENT"


def test_leading_zeros_and_whitespace_in_the_expected_id_are_the_same_account():
    with HubSpotSimulator(hub_id=111) as sim, oauth_client(sim, " 0111 ") as client:
        client.authenticate()


def test_a_token_of_another_account_is_refused_and_never_used():
    masked: list[str] = []
    rotated: list[str] = []
    with (
        HubSpotSimulator(hub_id=222, rotate_refresh_tokens=True) as sim,
        oauth_client(sim, "111", on_new_token=masked.append, on_refresh_token_rotated=rotated.append) as client,
    ):
        message = sim.add_message(1001)
        with pytest.raises(HubSpotAccountMismatchError) as caught:
            client.update_message_status(1001, message["id"], "FAILED", "no receipt")
        error = caught.value
        text = str(error)
        assert "111" in text and "222" in text and "another account" in text and "credentials" in text
        assert isinstance(error, HubSpotTokenRefreshError) and not error.retry_may_succeed
        assert (error.expected_hub_id, error.answered_hub_id) == ("111", "222")
        assert api_requests(sim) == []  # the token was never sent to the API
        assert sim.token_requests == 1
        # Masked (it is a secret that reached the process), never stored as this account's refresh token.
        assert masked and rotated == []
        for secret in [*masked, sim.client_secret, sim.refresh_token]:
            assert secret not in text and secret not in repr(client)
        # Final: later calls get the same answer without asking the token endpoint again.
        with pytest.raises(HubSpotAccountMismatchError):
            client.get_message(1001, message["id"])
        assert sim.token_requests == 1 and api_requests(sim) == []
        assert sim.get_message(1001, message["id"]).get("status", {}).get("statusType") != "FAILED"


@pytest.mark.parametrize("hub_id", [None, "", "abc", True, 1.5, [111], {"id": 111}])
def test_an_answer_that_cannot_prove_the_account_is_refused(hub_id):
    payload: dict[str, Any] = {"access_token": "access-" + "a" * 30, "expires_in": 1800, "token_type": "bearer"}
    if hub_id is not None:
        payload["hub_id"] = hub_id
    server = ScriptedServer(lambda method, path, headers, body: json_reply(200, payload))
    with server:
        client = HubSpotChannelsClient(
            config=ClientConfig(base_url=server.base_url, max_retries=0, timeout=5),
            client_id="app",
            client_secret="secret-" + "s" * 20,
            refresh_token="refresh-" + "r" * 20,
            expected_hub_id="111",
        )
        with client, pytest.raises(HubSpotAccountMismatchError) as caught:
            client.get_channel(1001)
    assert "111" in str(caught.value) and "hub_id" in str(caught.value)
    assert [path for _, path, _, _ in server.requests] == ["/oauth/2026-03/token"]


def test_without_an_expected_account_nothing_changes():
    with HubSpotSimulator(hub_id=222) as sim, oauth_client(sim, None) as client:
        client.authenticate()


@pytest.mark.parametrize("value", ["", "  ", "12a", "-5", "0", "1e3", "١٢٣", "9" * 30])
def test_an_expected_account_that_is_not_a_portal_id_is_refused_at_construction(value):
    with pytest.raises(InvalidInputError) as caught:
        HubSpotChannelsClient(client_id="a", client_secret="b", refresh_token="c", expected_hub_id=value)
    assert caught.value.field == "expected_hub_id"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expected=st.integers(min_value=1, max_value=2**63 - 1),
    answered=st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64),
        st.text(max_size=25),
        st.none(),
        st.booleans(),
        st.floats(allow_nan=True),
        st.lists(st.integers(), max_size=2),
    ),
    zeros=st.integers(min_value=0, max_value=3),
)
def test_property_only_the_same_decimal_account_is_accepted(expected, answered, zeros):
    # The comparison alone (no HTTP): every answered value either proves the expected account or raises the final
    # mismatch error, never anything else.
    from airflow_provider_hubspot_channels.client.auth import check_hub_id

    same = not isinstance(answered, bool) and (
        (isinstance(answered, int) and answered == expected)
        or (
            isinstance(answered, str)
            and answered.strip().isascii()
            and answered.strip().isdigit()
            and int(answered.strip()) == expected
        )
    )
    if same:
        check_hub_id("0" * zeros + str(expected), answered)
    else:
        with pytest.raises(HubSpotAccountMismatchError):
            check_hub_id("0" * zeros + str(expected), answered)
