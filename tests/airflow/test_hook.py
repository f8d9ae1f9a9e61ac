"""The hook against the simulator: OAuth from the connection, and a Test button that answers quickly and truly."""

from __future__ import annotations

import time

import pytest

from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
from tests.conftest import connection_json


def oauth_connection(monkeypatch, sim, **extra):
    value = connection_json(
        sim.base_url,
        password="old-token-from-a-previous-install",
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        refresh_token=sim.refresh_token,
        channel_id=1001,
        **extra,
    )
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", value)


def test_oauth_ignores_a_stale_password_token(simulator, monkeypatch):
    oauth_connection(monkeypatch, simulator)
    hook = HubSpotChannelsHook()
    assert hook.get_channel(1001)["id"] == "1001"
    assert simulator.token_requests == 1
    assert not [e for e in simulator.request_log if e.status == 401]


def test_test_connection_reports_a_revoked_refresh_token(simulator, monkeypatch):
    oauth_connection(monkeypatch, simulator)
    simulator.revoke_refresh_token(simulator.refresh_token)
    ok, message = HubSpotChannelsHook().test_connection()
    assert not ok and "OAuth" in message and simulator.token_requests == 1


@pytest.mark.parametrize(
    ("timeout", "bound"),
    [
        (2, 5),  # one attempt of at most the connection's 2 s read timeout, no retries
        (600, 10),  # the 5 s cap, not the task's 600 s timeout
    ],
)
def test_test_connection_answers_within_a_short_bound(monkeypatch, timeout, bound):
    # Every answer takes 30 s: retrying (5 retries configured) or waiting out a long timeout would take minutes.
    with HubSpotSimulator(faults=FaultConfig(p_slow=1.0, slow_seconds=30)) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, channel_id=1001, timeout=timeout, max_retries=5),
        )
        started = time.monotonic()
        ok, message = HubSpotChannelsHook().test_connection()
        elapsed = time.monotonic() - started
    assert not ok and "no answer" in message
    assert elapsed < bound


@pytest.mark.parametrize(("extra", "words"), [({"timeout": "soon"}, "timeout"), ({"client_id": "x"}, "client_secret")])
def test_test_connection_names_the_bad_field(simulator, monkeypatch, extra, words):
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", connection_json(simulator.base_url, password="t" * 20, **extra)
    )
    ok, message = HubSpotChannelsHook().test_connection()
    assert not ok and words in message and simulator.request_log == []
