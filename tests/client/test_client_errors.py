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
