"""Retry decisions follow HubSpot's documented habits; pure, with a seeded jitter source."""

from __future__ import annotations

import random

import pytest

from airflow_provider_hubspot_channels.client.errors import ErrorDetails
from airflow_provider_hubspot_channels.client.retry import RetryPolicy, parse_retry_after


def policy(**kwargs):
    return RetryPolicy(rng=random.Random(1), **kwargs)


def delay(status, *, retry=1, waited=0.0, headers=None, policy_name=None, p=None):
    details = None if status is None else ErrorDetails(status=status, policy_name=policy_name)
    return (p or policy()).delay(retry_number=retry, waited=waited, details=details, headers=headers or {})


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 418])
def test_final_statuses_are_never_retried(status):
    assert delay(status) is None


def test_daily_limit_is_never_retried():
    assert delay(429, policy_name="DAILY", headers={"Retry-After": "1"}) is None


def test_ten_secondly_waits_for_the_window_or_retry_after():
    assert delay(429, policy_name="TEN_SECONDLY_ROLLING") == 10.0
    assert delay(429, policy_name="SECONDLY") == 1.0
    assert delay(429, policy_name="TEN_SECONDLY_ROLLING", headers={"Retry-After": "3"}) == 3.0
    assert delay(429, headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "2500"}) == 2.5


def test_locked_waits_at_least_two_seconds():
    for retry in range(1, 4):
        assert delay(423, retry=retry, p=policy(backoff_base=0.01)) >= 2.0


def test_477_honours_retry_after():
    assert delay(477, headers={"Retry-After": "7"}) == 7.0


@pytest.mark.parametrize("status", [None, 500, 502, 503, 504, 521, 523, 524])
def test_server_errors_back_off_exponentially_with_jitter(status):
    p = policy(backoff_base=1.0, backoff_max=30.0)
    waits = [delay(status, retry=n, p=p) for n in range(1, 6)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(30.0, 2 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling


def test_retries_are_bounded_in_count_and_time():
    p = policy(max_retries=3, max_total_wait=5.0)
    assert delay(503, retry=4, p=p) is None
    assert delay(503, retry=1, waited=4.9, p=p) is None
    assert delay(429, policy_name="TEN_SECONDLY_ROLLING", p=p) is None  # a 10 s wait would pass 5 s


def test_retry_after_http_date():
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


# -- issue 12, defect 9: a Retry-After or interval header of any value keeps the wait bounded ----------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e400", "Infinity"])
def test_an_unreadable_retry_after_is_ignored(raw):
    assert parse_retry_after({"Retry-After": raw}) is None


def test_a_day_long_retry_after_or_interval_is_not_waited_for():
    assert delay(429, headers={"Retry-After": "86400"}) is None
    assert delay(477, headers={"Retry-After": "86400"}) is None
    # An interval of a day is not believed: the nominal 10 s window is waited instead.
    assert delay(429, headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "86400000"}) == 10.0
    assert delay(429, headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "1"}) == 10.0


@settings(max_examples=300, deadline=None)
@given(
    status=st.sampled_from([408, 423, 429, 477, 500, 502, 503]),
    retry_after=st.one_of(st.none(), st.text(max_size=20), st.floats().map(str), st.integers(-(10**9), 10**9).map(str)),
    interval=st.one_of(st.none(), st.text(max_size=10), st.integers(-(10**12), 10**12).map(str)),
    waited=st.floats(0, 120),
)
def test_every_wait_is_finite_and_within_the_total(status, retry_after, interval, waited):
    headers = {
        k: v
        for k, v in (("Retry-After", retry_after), ("X-HubSpot-RateLimit-Interval-Milliseconds", interval))
        if v is not None
    }
    p = policy(max_total_wait=120)
    wait = delay(status, waited=waited, headers=headers, p=p)
    assert wait is None or (wait >= 0 and waited + wait <= 120)
