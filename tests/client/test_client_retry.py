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
