"""Issue 12: a call returns what it went through (requests sent, attempts without an answer) with its result or
error, instead of through a thread-local; the no-answer error names the URL that was tried."""

from __future__ import annotations

import socket

import pytest

from airflow_provider_hubspot_channels.client import (
    Answer,
    ClientConfig,
    ClientStoppedError,
    HubSpotChannelsClient,
    HubSpotConnectionError,
    HubSpotNotFoundError,
    HubSpotRetriesExhaustedError,
)
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
from airflow_provider_hubspot_channels.validation import build_status_update

FAST = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.02, lock_wait=0.01)


def client_for(sim: HubSpotSimulator, **kwargs) -> HubSpotChannelsClient:
    kwargs.setdefault("access_token", sim.access_token)
    return HubSpotChannelsClient(
        config=ClientConfig(base_url=sim.base_url, max_requests_per_10s=1000, timeout=5, max_retries=3),
        retry_policy=FAST,
        **kwargs,
    )


def test_a_clean_call_is_one_request_and_no_unanswered_attempt():
    with HubSpotSimulator() as sim, client_for(sim) as client:
        sim.add_message(1001, "m-1")
        answer = client.read_message(1001, "m-1")
        assert isinstance(answer, Answer)
        assert answer == Answer(body=answer.body, requests=1, unanswered=0)
        assert answer.body["id"] == "m-1"
        assert client.get_message(1001, "m-1") == client.read_message(1001, "m-1").body


def test_a_write_whose_answer_was_lost_reports_it_with_its_result():
    faults = FaultConfig(script=("reset_after", "503"), only_methods=frozenset({"PATCH"}))
    with HubSpotSimulator(faults=faults) as sim, client_for(sim) as client:
        sim.add_message(1001, "m-1")
        answer = client.write_status(build_status_update(1001, "m-1", "FAILED", "no receipt"))
        assert answer.body["status"]["statusType"] == "FAILED"
        assert (answer.requests, answer.unanswered) == (3, 2)  # a reset and a 503 say nothing of the write


def test_the_counts_belong_to_the_call_not_to_the_thread():
    # The thread-local of old was overwritten by the thread's next call; an Answer is not.
    faults = FaultConfig(script=("reset_after",), only_methods=frozenset({"PATCH"}))
    with HubSpotSimulator(faults=faults) as sim, client_for(sim) as client:
        sim.add_message(1001, "m-1")
        written = client.write_status(build_status_update(1001, "m-1", "SENT"))
        read = client.read_message(1001, "m-1")
        assert written.unanswered == 1 and read.unanswered == 0
        assert not hasattr(client, "unanswered_attempts")


def test_a_429_retry_is_a_request_but_not_unanswered():
    with HubSpotSimulator(faults=FaultConfig(script=("429", "423"), retry_after=0)) as sim, client_for(sim) as client:
        sim.add_message(1001, "m-1")
        answer = client.write_status(build_status_update(1001, "m-1", "READ"))
        assert (answer.requests, answer.unanswered) == (3, 0)


def test_an_expiry_resend_is_counted_and_the_token_post_is_not():
    with HubSpotSimulator(token_lifetime=1800) as sim:
        sim.add_message(1001, "m-1")
        expired = sim.issue_token()
        sim.expire_token(expired)
        with client_for(
            sim,
            access_token=expired,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            refresh_token=sim.refresh_token,
        ) as client:
            answer = client.read_message(1001, "m-1")
        assert sim.token_requests == 1
        assert (answer.requests, answer.unanswered) == (2, 0)


def test_errors_carry_the_counts():
    with HubSpotSimulator(faults=FaultConfig(script=("reset_after",) * 10)) as sim, client_for(sim) as client:
        sim.add_message(1001, "m-1")
        with pytest.raises(HubSpotConnectionError) as info:
            client.write_status(build_status_update(1001, "m-1", "SENT"))
        assert (info.value.requests, info.value.unanswered) == (4, 4)
    with HubSpotSimulator(faults=FaultConfig(script=("502",) * 10)) as sim, client_for(sim) as client:
        with pytest.raises(HubSpotRetriesExhaustedError) as retried:
            client.read_message(1001, "m-1")
        assert (retried.value.requests, retried.value.unanswered) == (4, 4)
    with HubSpotSimulator() as sim, client_for(sim) as client:
        with pytest.raises(HubSpotNotFoundError) as missing:
            client.read_message(1001, "nope")
        assert (missing.value.requests, missing.value.unanswered) == (1, 0)
        client.stop()
        with pytest.raises(ClientStoppedError) as stopped:
            client.read_message(1001, "nope")
        assert (stopped.value.requests, stopped.value.unanswered) == (0, 0)


def test_request_is_the_body_of_send():
    with HubSpotSimulator() as sim, client_for(sim) as client:
        answer = client.send("GET", "/conversations/custom-channels/2026-03/1001")
        assert answer.requests == 1 and client.request("GET", "/conversations/custom-channels/2026-03/1001") == (
            answer.body
        )


def test_the_no_answer_error_names_the_url_tried():
    # A port nobody listens on: the user must see which scheme, host and port the connection used.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ClientConfig(base_url=f"http://127.0.0.1:{port}", max_retries=1, timeout=2)
    with (
        HubSpotChannelsClient(config=config, access_token="t" * 20, retry_policy=FAST) as client,
        pytest.raises(HubSpotConnectionError) as info,
    ):
        client.get_channel(1001)
    assert f"http://127.0.0.1:{port}" in str(info.value)
    assert info.value.unanswered == 0  # nothing went out: refused before sending
    config = ClientConfig(base_url=f"http://localhost:{port}", max_retries=0, timeout=2)
    oauth = {"client_id": "id", "client_secret": "secret-1", "refresh_token": "refresh-1"}
    with (
        HubSpotChannelsClient(config=config, retry_policy=FAST, **oauth) as client,
        pytest.raises(HubSpotConnectionError) as info,
    ):
        client.get_channel(1001)
    text = str(info.value)
    assert f"http://localhost:{port}" in text and "/oauth/" in text and "secret-1" not in text


def test_https_default_port_is_named():
    assert ClientConfig(base_url="https://api.hubapi.com/").origin == "https://api.hubapi.com:443"
    assert ClientConfig(base_url="http://[::1]:8773").origin == "http://[::1]:8773"
