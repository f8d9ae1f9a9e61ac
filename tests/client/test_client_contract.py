"""Every request the client sends, and every answer it reads, validates against HubSpot's official OpenAPI specs.

The requests are captured from the client's own ``requests`` session (a response hook), so what is checked is
exactly what went over the wire to the simulator on 127.0.0.1.
"""

from __future__ import annotations

import pytest
import requests

from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, HubSpotNotFoundError
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.state import DEFAULT_INBOX_ID
from tests.openapi_contract import CUSTOM_CHANNELS, assert_requests_response, spec_path


@pytest.fixture
def captured():
    spec_path(CUSTOM_CHANNELS)  # skips, with the reason, where HubSpot's specs are absent
    with HubSpotSimulator() as sim:
        responses: list[requests.Response] = []
        yield sim, responses


def client_for(sim, responses, **kwargs) -> HubSpotChannelsClient:
    kwargs.setdefault("access_token", sim.access_token)
    client = HubSpotChannelsClient(config=ClientConfig(base_url=sim.base_url, max_requests_per_10s=1000), **kwargs)
    client.session.hooks["response"].append(lambda response, *args, **kw: responses.append(response))
    return client


@pytest.mark.parametrize(
    ("status_type", "error_message"),
    [("SENT", None), ("READ", None), ("FAILED", "Not delivered: no receipt within 15 minutes.")],
)
def test_status_updates_match_the_spec(captured, status_type, error_message):
    sim, responses = captured
    sim.add_message(1001, "m/1")
    with client_for(sim, responses) as client:
        client.update_message_status(1001, "m/1", status_type.lower(), error_message)
    (response,) = responses
    assert response.request.method == "PATCH"
    assert_requests_response(response, check_request=True)


def test_reads_publish_and_inbox_paging_match_the_spec(captured):
    sim, responses = captured
    for i in range(3):
        sim.add_message(1001, f"m-{i}")
    person = {"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550100"}}
    with client_for(sim, responses) as client:
        client.get_channel(1001)
        client.get_message(1001, "m-0")
        account = sim.add_channel_account(1001)
        client.publish_message(
            1001, channel_account_id=str(account["id"]), text="hi", senders=[person], recipients=[person]
        )
        threads = list(
            client.iter_threads(
                inbox_id=DEFAULT_INBOX_ID, latest_message_timestamp_after="2020-01-01T00:00:00Z", page_size=1
            )
        )
        for thread in threads:
            list(client.iter_thread_messages(thread["id"], page_size=2))
    methods = {(r.request.method, r.status_code) for r in responses}
    assert {("GET", 200), ("POST", 201)} <= methods and len(responses) > 6
    for response in responses:
        assert_requests_response(response, check_request=True)


def test_oauth_refresh_and_errors_match_the_spec(captured):
    sim, responses = captured
    client = client_for(
        sim,
        responses,
        access_token=None,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        refresh_token=sim.refresh_token,
    )
    with client:
        client.get_channel(1001)
        with pytest.raises(HubSpotNotFoundError):
            client.get_message(1001, "does-not-exist")
    paths = [r.request.path_url for r in responses]
    assert paths[0] == "/oauth/2026-03/token", paths
    assert responses[-1].status_code == 404
    for response in responses:
        assert_requests_response(response, check_request=True)
