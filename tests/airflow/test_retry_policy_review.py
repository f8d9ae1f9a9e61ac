"""Retry policy defects an independent review found (each failed before its fix)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, HubSpotChannelsError
from airflow_provider_hubspot_channels.operators.errors import (
    AirflowFailException,
    airflow_error,
    retry_policy_decides_daily_limit,
)
from airflow_provider_hubspot_channels.operators.retry_policy import RETRY_POLICIES_SUPPORTED, HubSpotRetryPolicy
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
from tests.conftest import connection_json

needs = pytest.mark.skipif(not RETRY_POLICIES_SUPPORTED, reason="task retry policies arrived in Airflow 3.3")
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


@needs
def test_an_error_the_client_calls_not_retryable_is_not_retried_by_the_policy():
    """client.py: an unexpected transport error (invalid URL, too many redirects) is 'not retried' because
    'retrying cannot help' -- yet it becomes HubSpotConnectionError and the policy RETRIES it as 'HubSpot down'."""
    from airflow.sdk.definitions.retry_policy import RetryAction

    with HubSpotSimulator() as sim:
        sim.add_message(1001, "m-1")
        config = ClientConfig(base_url=sim.base_url, max_requests_per_10s=1000, timeout=2)
        with HubSpotChannelsClient(config=config, access_token=sim.access_token) as client:

            def redirect_loop(*args, **kwargs):
                raise requests.exceptions.TooManyRedirects("Exceeded 30 redirects.")

            client.session.send = redirect_loop
            with pytest.raises(HubSpotChannelsError) as caught:
                client.get_message(1001, "m-1")
    exc = caught.value
    assert "not retried" in str(exc)
    raised = airflow_error(exc, conn_id="c", policy_decides=True)
    decision = HubSpotRetryPolicy(clock=lambda: NOON).evaluate(raised, try_number=1, max_tries=4)
    assert decision.action is not RetryAction.RETRY, (decision, str(exc))


@needs
def test_a_batch_stopped_by_429s_is_not_classified_as_hubspot_down(monkeypatch):
    """docs/errors.md: '429 through every client retry' -> the task's own retries. A batch that hits three
    429-exhausted rows in a row raises HubSpotUnavailableError ('HubSpot did not answer') and gets the long delay."""
    from airflow.sdk.definitions.retry_policy import RetryAction

    from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator

    with HubSpotSimulator(faults=FaultConfig(p_429=1.0, retry_after=0)) as sim:
        for n in range(5):
            sim.add_message(1001, f"m-{n}")
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, max_retries=0),
        )
        policy = HubSpotRetryPolicy(clock=lambda: NOON)
        op = UpdateMessageStatusOperator(
            task_id="t",
            updates=[{"channel_id": 1001, "message_id": f"m-{n}", "status_type": "SENT"} for n in range(5)],
            max_concurrency=1,
            retry_policy=policy,
        )
        with pytest.raises(Exception) as caught:
            op.execute({})
    decision = policy.evaluate(caught.value, try_number=1, max_tries=4)
    assert decision.action is RetryAction.DEFAULT, (type(caught.value).__name__, str(caught.value)[:300], decision)


@needs
def test_the_daily_limit_still_fails_at_once_with_a_policy_that_is_not_hubspots(monkeypatch):
    """'Without a retry policy the daily limit fails the task at once'. With another policy attached (a user's
    ExceptionRetryPolicy for unrelated errors) it was a plain AirflowException, that policy answered DEFAULT and the
    task burnt its retries every retry_delay until tomorrow. Only a policy that knows the daily limit gets it."""
    from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule

    from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator

    other = ExceptionRetryPolicy(rules=[RetryRule(exception=KeyError, action=RetryAction.FAIL)])
    with HubSpotSimulator(daily_limit=1) as sim:
        sim.add_message(1001, "m-1")
        requests.get(
            f"{sim.base_url}/conversations/custom-channels/2026-03/1001/messages/m-1",
            headers={"Authorization": f"Bearer {sim.access_token}"},
            timeout=5,
        ).raise_for_status()
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", connection_json(sim.base_url, password=sim.access_token)
        )
        op = UpdateMessageStatusOperator(
            task_id="t", channel_id=1001, message_id="m-1", status_type="SENT", retry_policy=other
        )
        assert not retry_policy_decides_daily_limit(op)
        with pytest.raises(Exception) as caught:
            op.execute({})
    assert "daily" in str(caught.value)
    assert isinstance(caught.value, AirflowFailException) or (
        other.evaluate(caught.value, 1, 4).action is not RetryAction.DEFAULT
    ), "daily limit with a non-HubSpot policy: retried every retry_delay"


@needs
def test_a_tls_handshake_failure_is_not_retried_as_hubspot_down():
    """A TLS failure (here: https:// to a plain-HTTP host; likewise a certificate that does not verify) is a
    configuration error: requests.SSLError is a requests.ConnectionError, so the client retries it, raises
    HubSpotConnectionError, and the policy waits 10, 20, 40 minutes for it to cure itself."""
    from airflow.sdk.definitions.retry_policy import RetryAction

    with HubSpotSimulator() as sim:
        config = ClientConfig(
            base_url=sim.base_url.replace("http://", "https://"), max_requests_per_10s=1000, timeout=2, max_retries=0
        )
        with (
            HubSpotChannelsClient(config=config, access_token=sim.access_token) as client,
            pytest.raises(HubSpotChannelsError) as caught,
        ):
            client.get_message(1001, "m-1")
    assert "SSLError" in str(caught.value), str(caught.value)
    raised = airflow_error(caught.value, conn_id="c", policy_decides=True)
    decision = HubSpotRetryPolicy(clock=lambda: NOON).evaluate(raised, try_number=1, max_tries=4)
    assert decision.action is not RetryAction.RETRY, (decision, str(caught.value))


@needs
def test_a_daily_limit_seen_within_the_margin_after_midnight_retries_today_not_tomorrow():
    """reset_margin exists because 'clocks differ'. A 429 DAILY at 00:02 (our clock) cannot be a new day's limit
    spent (at 11 requests/s HubSpot allows ~1,300 requests in 2 minutes; daily limits are 250,000+): it is the old
    day's answer from a HubSpot whose reset lags ours. The policy waits for the NEXT midnight: 24 h 3 min."""
    from airflow.sdk.definitions.retry_policy import RetryAction

    from airflow_provider_hubspot_channels.client.errors import ErrorDetails, HubSpotDailyLimitError

    now = datetime(2026, 12, 4, 0, 2, tzinfo=timezone.utc)
    daily = HubSpotDailyLimitError(ErrorDetails(status=429, policy_name="DAILY"), method="GET", path="/x")
    policy = HubSpotRetryPolicy(account_timezone="UTC", clock=lambda: now)
    decision = policy.evaluate(airflow_error(daily, conn_id="c", policy_decides=True), try_number=1, max_tries=4)
    assert decision.action is RetryAction.RETRY
    assert decision.retry_delay <= policy.reset_margin, decision


@needs
def test_only_a_policy_that_knows_the_daily_limit_takes_it_over_alone_or_in_a_chain():
    from types import SimpleNamespace

    from airflow.sdk.definitions.retry_policy import ExceptionRetryPolicy, RetryAction, RetryRule

    other = ExceptionRetryPolicy(rules=[RetryRule(exception=KeyError, action=RetryAction.FAIL)])
    ours = HubSpotRetryPolicy()
    try:
        from airflow.providers.common.compat.sdk import ChainRetryPolicy
    except ImportError:
        ChainRetryPolicy = None
    assert retry_policy_decides_daily_limit(SimpleNamespace(retry_policy=ours))
    assert not retry_policy_decides_daily_limit(SimpleNamespace(retry_policy=other))
    assert not retry_policy_decides_daily_limit(SimpleNamespace(retry_policy=None))
    assert not retry_policy_decides_daily_limit(SimpleNamespace())
    if ChainRetryPolicy is not None:
        assert retry_policy_decides_daily_limit(SimpleNamespace(retry_policy=ChainRetryPolicy([other, ours])))
        assert not retry_policy_decides_daily_limit(SimpleNamespace(retry_policy=ChainRetryPolicy([other])))
