"""The client's usage counters are exact against the simulator (scripted faults) and safe across threads."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotConnectionError,
    HubSpotDailyLimitError,
    HubSpotNotFoundError,
)
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.client.usage import UsageCounters, UsageSnapshot
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator

FAST_RETRIES = RetryPolicy(max_retries=4, max_total_wait=30, backoff_base=0.01, backoff_max=0.05, lock_wait=0.05)


def make_client(sim: HubSpotSimulator, **config: object) -> HubSpotChannelsClient:
    settings_ = {"base_url": sim.base_url, "max_requests_per_10s": 1000, "timeout": 5, **config}
    return HubSpotChannelsClient(
        config=ClientConfig(**settings_),  # type: ignore[arg-type]
        access_token=sim.access_token,
        retry_policy=FAST_RETRIES,
    )


def api_requests(sim: HubSpotSimulator) -> list:
    return [entry for entry in sim.request_log if not entry.path.startswith("/oauth")]


def test_a_fresh_client_has_counted_nothing():
    with HubSpotSimulator() as sim, make_client(sim) as client:
        assert client.usage.snapshot() == UsageSnapshot()


def test_scripted_429s_and_5xx_are_counted_exactly():
    script = ("429", None, "429", "503", None, None)
    with HubSpotSimulator(faults=FaultConfig(script=script, retry_after=0)) as sim:
        sim.add_message(1001, "m-1")
        with make_client(sim) as client:
            client.update_message_status(1001, "m-1", "SENT")  # 429, then 200
            client.get_message(1001, "m-1")  # 429, 503, then 200
            client.get_message(1001, "m-1")  # 200
            usage = client.usage.snapshot()
        sent = len(api_requests(sim))
    assert sent == 6
    assert usage.requests == sent
    assert usage.responses == {"2xx": 3, "4xx": 2, "5xx": 1}
    assert usage.rate_limited == 2
    assert usage.retries == 3
    assert usage.no_answer == 0
    assert usage.retry_wait_seconds >= 0.0


def test_final_answers_and_lost_answers_are_counted():
    with HubSpotSimulator(faults=FaultConfig(script=("reset",) * 10)) as sim:
        with make_client(sim) as client, pytest.raises(HubSpotConnectionError):
            client.get_channel(1001)
        usage = client.usage.snapshot()
    # 5 attempts (4 retries), none answered
    assert usage.requests == 5 and usage.no_answer == 5 and usage.retries == 4 and usage.responses == {}
    assert usage.retry_wait_seconds > 0.0

    with HubSpotSimulator() as sim, make_client(sim) as client:
        with pytest.raises(HubSpotNotFoundError):
            client.get_message(1001, "missing")
        assert client.usage.snapshot().responses == {"4xx": 1}
        assert client.usage.snapshot().retries == 0


def test_a_refusal_remembered_sends_and_counts_no_request():
    with HubSpotSimulator(daily_limit=1) as sim:
        sim.add_message(1001, "m-1")
        with make_client(sim) as client:
            client.get_message(1001, "m-1")
            for _ in range(3):
                with pytest.raises(HubSpotDailyLimitError):
                    client.get_message(1001, "m-1")
            usage = client.usage.snapshot()
        assert len(api_requests(sim)) == 2
    assert usage.requests == 2 and usage.rate_limited == 1 and usage.responses == {"2xx": 1, "4xx": 1}


def test_time_waited_for_the_rate_budget_is_counted():
    import time

    with HubSpotSimulator(rate_limit=10, rate_window_seconds=1.0) as sim:
        sim.add_message(1001, "m-1")
        # HubSpot's headers say 10 per second: 30 calls wait about 2-3 s for the budget, with no 429.
        with make_client(sim) as client:
            started = time.monotonic()
            for _ in range(30):
                client.get_message(1001, "m-1")
            elapsed = time.monotonic() - started
            usage = client.usage.snapshot()
    assert usage.requests == 30 and usage.retries == 0 and usage.rate_limited == 0
    assert 1.0 < usage.budget_wait_seconds <= elapsed


def test_counters_are_exact_across_threads():
    with HubSpotSimulator() as sim:
        sim.add_message(1001, "m-1")
        with make_client(sim) as client:
            threads = [
                threading.Thread(target=lambda: [client.get_message(1001, "m-1") for _ in range(10)]) for _ in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            usage = client.usage.snapshot()
        assert len(api_requests(sim)) == 80
    assert usage.requests == 80 and usage.responses == {"2xx": 80}


# -- the counters themselves: any sequence of events adds up, whatever the threads ----------------------------------

_EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("request"), st.none()),
        st.tuples(st.just("response"), st.integers(min_value=100, max_value=599)),
        st.tuples(st.just("no_answer"), st.none()),
        st.tuples(st.just("retry"), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
        st.tuples(st.just("budget"), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(events=_EVENTS)
def test_any_sequence_of_events_adds_up(events):
    counters = UsageCounters()
    for kind, value in events:
        if kind == "request":
            counters.request_sent()
        elif kind == "response":
            counters.answered(int(value))  # type: ignore[arg-type]
        elif kind == "no_answer":
            counters.not_answered()
        elif kind == "retry":
            counters.retry_waited(float(value))  # type: ignore[arg-type]
        else:
            counters.budget_waited(float(value))  # type: ignore[arg-type]
    usage = counters.snapshot()
    answered = [int(v) for k, v in events if k == "response"]  # type: ignore[arg-type]
    assert usage.requests == sum(k == "request" for k, _ in events)
    assert sum(usage.responses.values()) == len(answered)
    assert usage.rate_limited == answered.count(429)
    assert usage.no_answer == sum(k == "no_answer" for k, _ in events)
    assert usage.retries == sum(k == "retry" for k, _ in events)
    assert usage.retry_wait_seconds == pytest.approx(sum(float(v) for k, v in events if k == "retry"))  # type: ignore[arg-type]
    assert usage.budget_wait_seconds == pytest.approx(sum(float(v) for k, v in events if k == "budget"))  # type: ignore[arg-type]
    # a snapshot is a copy: later events do not change it
    counters.answered(200)
    assert sum(usage.responses.values()) == len(answered)
