"""HubSpot's error bodies are parsed defensively and surface category, message and correlationId."""

from __future__ import annotations

import json

from airflow_provider_hubspot_channels.client.errors import (
    HubSpotApiError,
    HubSpotDailyLimitError,
    HubSpotNotFoundError,
    HubSpotPermissionError,
    error_for,
    parse_error_body,
)

CORRELATION = "aeb5f871-7f07-4993-9211-075dc63e7cbf"


def test_full_error_body_is_read():
    body = {
        "status": "error",
        "category": "MISSING_SCOPES",
        "subCategory": "x",
        "message": "This app hasn't been granted all required scopes",
        "correlationId": CORRELATION,
        "context": {"missingScopes": ["conversations.custom_channels.write"]},
        "errors": [{"message": "must be one of", "in": "statusType"}],
    }
    details = parse_error_body(403, json.dumps(body).encode())
    error = error_for(details, method="PATCH", path="/p")
    assert isinstance(error, HubSpotPermissionError)
    assert error.missing_scopes == ["conversations.custom_channels.write"]
    text = str(error)
    for expected in ("HTTP 403", "MISSING_SCOPES/x", "required scopes", CORRELATION, "statusType: must be one of"):
        assert expected in text


def test_html_body_from_a_gateway():
    details = parse_error_body(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    assert details.category is None and details.correlation_id is None
    assert details.message == "502 Bad Gateway"
    assert "correlationId: none" in details.describe()


def test_empty_and_odd_bodies():
    assert parse_error_body(503, b"").message is None
    assert parse_error_body(500, b"[1, 2]").message == "[1, 2]"
    odd = parse_error_body(400, json.dumps({"message": {"nested": 1}, "context": {"k": "v"}, "errors": "x"}))
    assert odd.message is None and odd.context == {"k": ["v"]} and odd.errors == ()


def test_rate_limit_body_uses_error_type_and_policy():
    body = {
        "status": "error",
        "message": "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": CORRELATION,
        "policyName": "DAILY",
    }
    details = parse_error_body(429, json.dumps(body))
    assert details.category == "RATE_LIMIT" and details.policy_name == "DAILY"
    assert isinstance(error_for(details, method="GET", path="/p"), HubSpotDailyLimitError)


def test_status_maps_to_type():
    assert isinstance(error_for(parse_error_body(404, b"{}"), method="GET", path="/p"), HubSpotNotFoundError)
    generic = error_for(parse_error_body(418, b"{}"), method="GET", path="/p")
    assert type(generic) is HubSpotApiError and generic.status == 418


# -- issue 12: one classification, used everywhere ---------------------------------------------------------------

import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from airflow_provider_hubspot_channels.client import (  # noqa: E402
    ErrorDetails,
    HubSpotChannelsError,
    HubSpotTokenRefreshError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.client.retry import RetryPolicy  # noqa: E402


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 418, 422])
def test_a_final_4xx_will_fail_the_same_way_again(status):
    error = error_for(ErrorDetails(status=status), method="PATCH", path="/p")
    assert error.details.is_final and not error.details.is_transient
    assert error.retry_may_succeed is False


@pytest.mark.parametrize("status", [408, 423, 429, 477, 500, 502, 503, 504, 521, 523, 524])
def test_a_transient_answer_may_succeed_on_retry(status):
    error = error_for(ErrorDetails(status=status), method="GET", path="/p")
    assert error.details.is_transient and error.retry_may_succeed is True


def test_the_daily_limit_is_final():
    details = ErrorDetails(status=429, policy_name="daily")
    assert details.is_daily_limit and details.is_final
    assert isinstance(error_for(details, method="GET", path="/p"), HubSpotDailyLimitError)
    assert error_for(details, method="GET", path="/p").retry_may_succeed is False


def test_retry_may_succeed_of_errors_without_an_answer():
    assert InvalidInputError("f", "p", "x").retry_may_succeed is False
    assert HubSpotTokenRefreshError(ErrorDetails(status=400)).retry_may_succeed is False
    assert HubSpotTokenRefreshError(ErrorDetails(status=503)).retry_may_succeed is True
    assert HubSpotChannelsError("x").requests == 0 and HubSpotChannelsError("x").unanswered == 0


@settings(max_examples=300, deadline=None)
@given(status=st.integers(100, 999), policy=st.sampled_from([None, "DAILY", "SECONDLY", "TEN_SECONDLY_ROLLING"]))
def test_the_retry_policy_retries_exactly_what_the_classification_calls_transient(status, policy):
    details = ErrorDetails(status=status, policy_name=policy)
    delay = RetryPolicy(max_total_wait=3600).delay(retry_number=1, waited=0.0, details=details, headers={})
    assert (delay is not None) == details.is_transient
    assert details.is_final != details.is_transient
    assert error_for(details, method="GET", path="/p").retry_may_succeed == details.is_transient
