"""Issue 5.5, auth faults: a token expiring mid-run is refreshed and the run continues; a refused credential fails
the task within two requests naming the connection and HubSpot's category; missing scopes are listed."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

from ._support import CONN_ENV, check_invariants, connection_json, context_for, reconcile, settled_log, use_connection

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONN_ID = "hubspot_channels_default"


def test_token_expiring_ahead_of_time_is_refreshed_and_the_run_continues(monkeypatch):
    # Tokens live 0.3 s here: the client refreshes ahead of expiry (at 80% of the lifetime) while the batch runs.
    with HubSpotSimulator(seed=5, token_lifetime=0.3, latency=0.02, rate_limit=None) as sim:
        seed = sim.seed_scenario("reconciliation", 200, now=NOW)
        use_connection(monkeypatch, sim, oauth=True, timeout=5, max_retries=2, max_requests_per_10s=10_000)
        summary = reconcile(seed.records, max_concurrency=4).execute(context_for(seed))
        assert summary["duration_seconds"] > 0.6  # at least two lifetimes
        assert sim.token_requests >= 2
        assert summary["counts"]["marked_failed"] == len(seed.ids("stale"))
        assert summary["counts"]["error"] == 0
        check_invariants(sim, seed)
        # With a lifetime this short, a request may still arrive just after its token expired; it is then answered
        # 401 EXPIRED_AUTHENTICATION, refreshed once and retried, and never ends in an error.


def test_token_revoked_early_answers_expired_and_is_refreshed_once(monkeypatch):
    # HubSpot ends the token before its announced expiry: 401 EXPIRED_AUTHENTICATION -> one refresh, then onward.
    with HubSpotSimulator(seed=6, latency=0.01, rate_limit=None) as sim:
        seed = sim.seed_scenario("reconciliation", 200, now=NOW)
        conn = connection_json(
            sim.base_url,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            refresh_token=sim.refresh_token,
            timeout=5,
            max_retries=2,
            max_requests_per_10s=10_000,
        )
        monkeypatch.setenv(CONN_ENV, conn)

        def expire_after_some_patches() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if sum(1 for e in sim.request_log if e.method == "PATCH") >= 10:
                    sim.expire_all_tokens()  # the token the run refreshed at its start ends early
                    return
                time.sleep(0.005)

        killer = threading.Thread(target=expire_after_some_patches)
        killer.start()
        summary = reconcile(seed.records, max_concurrency=4).execute(context_for(seed))
        killer.join(10)
        assert sim.status_counts[401] >= 1  # HubSpot did refuse the expired token mid-run
        assert sim.token_requests == 2  # the first token, then one refresh for all threads
        assert summary["counts"]["marked_failed"] == len(seed.ids("stale"))
        assert summary["counts"]["error"] == summary["counts"]["not_attempted"] == 0
        check_invariants(sim, seed)


def _run_expecting_failure(sim, monkeypatch, seed, conn: str) -> tuple[str, list]:
    monkeypatch.setenv(CONN_ENV, conn)
    with pytest.raises(AirflowFailException) as info:
        reconcile(seed.records, max_concurrency=8).execute(context_for(seed))
    return str(info.value), settled_log(sim)


def test_revoked_refresh_token_fails_within_two_requests(monkeypatch):
    with HubSpotSimulator(seed=8) as sim:
        seed = sim.seed_scenario("reconciliation", 100, now=NOW)
        sim.revoke_refresh_token(sim.refresh_token)
        use_connection(monkeypatch, sim, oauth=True, timeout=5)
        with pytest.raises(AirflowFailException) as info:
            reconcile(seed.records, max_concurrency=8).execute(context_for(seed))
        log = settled_log(sim)
        text = str(info.value)
        assert len(log) <= 2, [(e.method, e.path, e.status) for e in log]
        assert sim.token_requests <= 2
        assert f"'{CONN_ID}'" in text and "BAD_REFRESH_TOKEN" in text and "OAuth refresh was refused" in text


def test_invalid_token_fails_within_two_requests(monkeypatch):
    with HubSpotSimulator(seed=9) as sim:
        seed = sim.seed_scenario("reconciliation", 100, now=NOW)
        monkeypatch.setenv(CONN_ENV, connection_json(sim.base_url, password="revoked-or-never-valid-token", timeout=5))
        with pytest.raises(AirflowFailException) as info:
            reconcile(seed.records, max_concurrency=8).execute(context_for(seed))
        log = settled_log(sim)
        text = str(info.value)
        assert len(log) <= 2, [(e.method, e.path, e.status) for e in log]
        assert f"'{CONN_ID}'" in text and "INVALID_AUTHENTICATION" in text and "correlationId" in text


def test_missing_scopes_fail_with_the_scopes_listed(monkeypatch):
    with HubSpotSimulator(seed=10) as sim:
        seed = sim.seed_scenario("reconciliation", 100, now=NOW)
        read_only = sim.issue_token(scopes=["conversations.custom_channels.read"])
        monkeypatch.setenv(CONN_ENV, connection_json(sim.base_url, password=read_only, timeout=5))
        with pytest.raises(AirflowFailException) as info:
            reconcile(seed.records, max_concurrency=8).execute(context_for(seed))
        log = settled_log(sim)
        text = str(info.value)
        assert "lacks scopes (conversations.custom_channels.write)" in text and f"'{CONN_ID}'" in text
        assert "MISSING_SCOPES" in text
        # The batch stopped at the first refusal: the PATCHes that met 403 are at most those already in flight.
        assert sum(1 for e in log if e.status == 403) <= 2
        assert not [e for e in log if e.method == "PATCH" and e.status == 200]


def test_a_refused_refresh_is_not_repeated_by_every_waiting_thread():
    # Eight worker threads need a token at once; the refresh token is revoked. One token request, not eight.
    from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, HubSpotTokenRefreshError

    with HubSpotSimulator() as sim:
        sim.revoke_refresh_token(sim.refresh_token)
        client = HubSpotChannelsClient(
            config=ClientConfig(base_url=sim.base_url, timeout=5),
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            refresh_token=sim.refresh_token,
        )
        errors: list[Exception] = []
        start = threading.Barrier(8)

        def call() -> None:
            start.wait(5)
            try:
                client.get_channel(1001)
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        client.close()
        assert len(errors) == 8 and all(isinstance(e, HubSpotTokenRefreshError) for e in errors)
        assert sim.token_requests == 1
        assert [e for e in settled_log(sim) if not e.path.startswith("/oauth")] == []


def test_after_a_final_401_the_client_sends_nothing_more():
    from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotAuthenticationError, HubSpotChannelsClient

    with HubSpotSimulator() as sim:
        client = HubSpotChannelsClient(config=ClientConfig(base_url=sim.base_url, timeout=5), access_token="not-valid")
        with client:
            for _ in range(3):
                with pytest.raises(HubSpotAuthenticationError, match="INVALID_AUTHENTICATION"):
                    client.get_message(1001, "m-1")
        assert len(settled_log(sim, expected=1)) == 1


class QuickRetries(RetryPolicy):
    """HubSpot's waits, shortened to a hundredth so that a test of what is retried does not sleep."""

    def delay(self, **kwargs):  # type: ignore[no-untyped-def]
        wait = super().delay(**kwargs)
        return None if wait is None else wait / 100


@pytest.mark.parametrize("fault", ["503_html", "reset", "429"])
def test_a_token_endpoint_hiccup_after_an_expiry_is_retried(fault):
    # The access token expires early (401 EXPIRED_AUTHENTICATION); the refresh that follows meets a transient
    # fault of the token endpoint. It is retried like any call, not taken for a refused refresh.
    from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient
    from airflow_provider_hubspot_channels.simulator import FaultConfig

    with HubSpotSimulator(faults=FaultConfig(script=(fault,), only_paths=("/oauth/*",), retry_after=0)) as sim:
        sim.add_message(1001, "m-1")
        stale = sim.issue_token()
        sim.expire_token(stale)
        client = HubSpotChannelsClient(
            config=ClientConfig(base_url=sim.base_url, timeout=5, max_retries=2),
            retry_policy=QuickRetries(max_retries=2),
            access_token=stale,
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            refresh_token=sim.refresh_token,
        )
        with client:
            assert client.get_message(1001, "m-1")["id"] == "m-1"
        assert sim.faults_injected[fault] == 1 and sim.token_requests == 2
