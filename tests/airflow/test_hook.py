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


def test_the_uri_form_with_a_port_reaches_the_simulator(simulator, monkeypatch):
    # hubspot-channels://:token@127.0.0.1:PORT/ stores host 127.0.0.1 and the port apart: both are honoured, and a
    # loopback host without a scheme is plain HTTP (the simulator), not https://127.0.0.1.
    port = simulator.base_url.rsplit(":", 1)[1]
    uri = f"hubspot-channels://:{simulator.access_token}@127.0.0.1:{port}/?channel_id=1001"
    monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", uri)
    ok, message = HubSpotChannelsHook().test_connection()
    assert ok, message


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        (None, None, "https://api.hubapi.com"),
        ("api.hubapi.com", None, "https://api.hubapi.com"),
        ("api.hubapi.com", 8443, "https://api.hubapi.com:8443"),
        ("127.0.0.1", 8773, "http://127.0.0.1:8773"),
        ("localhost", "8773", "http://localhost:8773"),
        ("https://127.0.0.1", 8773, "https://127.0.0.1:8773"),
        ("http://127.0.0.1:8773", 8773, "http://127.0.0.1:8773"),
        ("::1", 8773, "http://[::1]:8773"),
    ],
)
def test_host_port_and_scheme_as_users_write_them(host, port, url):
    from airflow_provider_hubspot_channels.hooks.hubspot import settings_from_connection

    settings = settings_from_connection(host=host, port=port, password="t" * 20, extras={})
    assert settings.config.base_url == url


def test_a_port_given_twice_must_agree():
    from airflow_provider_hubspot_channels.client import InvalidInputError
    from airflow_provider_hubspot_channels.hooks.hubspot import settings_from_connection

    with pytest.raises(InvalidInputError, match="port"):
        settings_from_connection(host="http://127.0.0.1:8773", port=8774, password="t" * 20, extras={})
