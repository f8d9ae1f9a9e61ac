"""Issue 5.8, time bounds: a hung or slow server cannot hold a task longer than a bound derived from the timeout and
retry settings (see docs/reliability.md for the formula), whatever the size of the batch."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from airflow_provider_hubspot_channels.client import ClientConfig
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.operators.errors import AirflowException, AirflowFailException
from airflow_provider_hubspot_channels.runner.reconcile import NO_ANSWER_LIMIT
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator

from ._support import context_for, reconcile, use_connection

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
TIMEOUT = 0.3
RETRIES = 1


def call_bound(config: ClientConfig, policy: RetryPolicy) -> float:
    """Longest one call can take when no answer comes: every attempt times out, every backoff is its ceiling."""
    backoffs = sum(
        min(policy.backoff_max, policy.backoff_base * 2 ** (k - 1)) for k in range(1, config.max_retries + 1)
    )
    return (config.max_retries + 1) * (config.connect_timeout + config.timeout) + min(policy.max_total_wait, backoffs)


def task_bound(call: float) -> float:
    """A reconciliation against a hung server: the first message alone, then one wave of workers until
    NO_ANSWER_LIMIT messages in a row failed, then the messages already running; each message is at most two calls
    (GET and PATCH). Planning, connection set-up and reporting get one second."""
    return 3 * 2 * call + 1.0


def test_the_call_bound_is_within_the_documented_worst_case():
    config = ClientConfig(timeout=TIMEOUT, max_retries=RETRIES)
    assert call_bound(config, RetryPolicy(max_retries=RETRIES)) <= config.worst_case_call_seconds()
    defaults = ClientConfig()
    # Six attempts plus two re-sends after 401 EXPIRED_AUTHENTICATION, each possibly after a token POST (README).
    assert defaults.worst_case_call_seconds() == (6 + 2) * 2 * 40 + 120


@pytest.mark.parametrize("records", [20, 200])
def test_a_hung_server_cannot_hold_the_task(monkeypatch, records):
    # Every answer comes 5 s late: later than the client's timeout, so for the client the server hangs.
    faults = FaultConfig(p_slow=1.0, slow_seconds=5.0)
    with HubSpotSimulator(seed=11, faults=faults, rate_limit=None) as sim:
        seed = sim.seed_scenario("reconciliation", records, now=NOW)
        sim.set_faults(faults)
        use_connection(monkeypatch, sim, timeout=TIMEOUT, max_retries=RETRIES)
        bound = task_bound(call_bound(ClientConfig(timeout=TIMEOUT, max_retries=RETRIES), RetryPolicy()))
        started = time.monotonic()
        with pytest.raises(AirflowException) as info:
            reconcile(seed.records, max_concurrency=4).execute(context_for(seed))
        elapsed = time.monotonic() - started
        sim.set_faults(None)  # let the simulator's slow handlers finish quickly
    print(f"\n[time bound] {records} records, hung server: failed after {elapsed:.2f} s (bound {bound:.2f} s)")
    assert elapsed <= bound
    text = str(info.value)
    assert not isinstance(info.value, AirflowFailException)  # a retry of the task is allowed, and safe
    assert f"did not answer {NO_ANSWER_LIMIT} messages in a row" in text and "hubspot_channels_default" in text
    assert "not attempted" in text


def test_a_slow_but_answering_server_finishes(monkeypatch):
    # Answers slower than usual but within the timeout: nothing is lost, the time is the latency's.
    with HubSpotSimulator(seed=12, latency=0.05, rate_limit=None) as sim:
        seed = sim.seed_scenario("reconciliation", 40, now=NOW)
        use_connection(monkeypatch, sim, timeout=TIMEOUT, max_retries=RETRIES, max_requests_per_10s=10_000)
        summary = reconcile(seed.records, max_concurrency=4).execute(context_for(seed))
    assert summary["counts"]["marked_failed"] == len(seed.ids("stale"))
