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


def test_test_connection_answers_within_its_own_short_bound(monkeypatch):
    # Every answer is slower than the connection's 30 s timeout would tolerate 5 retries of.
    with HubSpotSimulator(faults=FaultConfig(p_slow=1.0, slow_seconds=30)) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, channel_id=1001, timeout=2, max_retries=5),
        )
        started = time.monotonic()
        ok, message = HubSpotChannelsHook().test_connection()
        elapsed = time.monotonic() - started
    assert not ok and "no answer" in message
    assert elapsed < 5  # one attempt of at most the 2 s read timeout, no retries


@pytest.mark.parametrize(("extra", "words"), [({"timeout": "soon"}, "timeout"), ({"client_id": "x"}, "client_secret")])
def test_test_connection_names_the_bad_field(simulator, monkeypatch, extra, words):
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", connection_json(simulator.base_url, password="t" * 20, **extra)
    )
    ok, message = HubSpotChannelsHook().test_connection()
    assert not ok and words in message and simulator.request_log == []


def test_test_connection_caps_a_long_task_timeout(monkeypatch):
    with HubSpotSimulator(faults=FaultConfig(p_slow=1.0, slow_seconds=30)) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, channel_id=1001, timeout=600, max_retries=5),
        )
        started = time.monotonic()
        ok, _ = HubSpotChannelsHook().test_connection()
        elapsed = time.monotonic() - started
    assert not ok
    assert elapsed < 10  # the 5 s cap, not the task's 600 s timeout
