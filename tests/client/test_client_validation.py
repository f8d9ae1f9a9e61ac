"""Input checks run before any request: each names the field and the fix."""

from __future__ import annotations

import pytest

from airflow_provider_hubspot_channels.client import InvalidInputError
from airflow_provider_hubspot_channels.client.config import ClientConfig, validate_base_url
from airflow_provider_hubspot_channels.validation import ERROR_MESSAGE_MAX_LENGTH, build_status_update


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((1001, "m-1", "failed", "carrier rejected"), (1001, "m-1", "FAILED", "carrier rejected")),
        (("1001", "m-1", " Sent ", None), (1001, "m-1", "SENT", None)),
        ((2**31 - 1, "a/b?c#d", "READ", None), (2**31 - 1, "a/b?c#d", "READ", None)),
    ],
)
def test_valid_updates_are_normalised(args, expected):
    update = build_status_update(*args)
    assert (update.channel_id, update.message_id, update.status_type, update.error_message) == expected


def test_body_carries_error_message_only_when_given():
    assert build_status_update(1, "m", "FAILED", "x").body() == {"statusType": "FAILED", "errorMessage": "x"}
    assert build_status_update(1, "m", "READ").body() == {"statusType": "READ"}


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        ((1, "m", "DELIVERED"), "status_type", "SENT, READ or FAILED"),
        ((1, "m", "RECEIVED"), "status_type", "RECEIVED is set by HubSpot only"),
        ((1, "m", None), "status_type", "SENT, READ or FAILED"),
        ((1, "m", "SENT", "oops"), "error_message", "FAILED only"),
        ((1, "m", "FAILED", "   "), "error_message", "blank"),
        ((1, "m", "FAILED", "x" * (ERROR_MESSAGE_MAX_LENGTH + 1)), "error_message", "shorten it"),
        ((-5, "m", "SENT"), "channel_id", "outside"),
        ((0, "m", "SENT"), "channel_id", "outside"),
        ((2**31, "m", "SENT"), "channel_id", "outside"),
        (("12a", "m", "SENT"), "channel_id", "not a number"),
        ((True, "m", "SENT"), "channel_id", "boolean"),
        ((1.5, "m", "SENT"), "channel_id", "not a number"),
        ((1, "", "SENT"), "message_id", "empty"),
        ((1, "   ", "SENT"), "message_id", "empty"),
        ((1, None, "SENT"), "message_id", "not a string"),
    ],
)
def test_invalid_updates_name_field_and_fix(args, field, words):
    with pytest.raises(InvalidInputError) as info:
        build_status_update(*args)
    assert info.value.field == field
    assert words in str(info.value)
    assert "Fix:" in str(info.value)


def test_error_message_at_the_cap_is_accepted():
    text = "x" * ERROR_MESSAGE_MAX_LENGTH
    assert build_status_update(1, "m", "FAILED", text).error_message == text


@pytest.mark.parametrize(
    "url", ["https://api.hubapi.com", "http://127.0.0.1:8765", "http://localhost:1/", "http://[::1]:80"]
)
def test_base_urls_accepted(url):
    assert not validate_base_url(url).endswith("/")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://api.hubapi.com", "unencrypted"),
        ("http://10.0.0.5:8080", "unencrypted"),
        ("ftp://api.hubapi.com", r"not an http\(s\) URL"),
        ("https://user:pw@api.hubapi.com", "credentials"),
        ("https://api.hubapi.com/?hapikey=1", "query"),
        ("", "empty"),
    ],
)
def test_base_urls_refused(url, words):
    with pytest.raises(InvalidInputError, match=words):
        validate_base_url(url)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"max_requests_per_10s": 0}, "max_requests_per_10s"),
        ({"budget_share": 1.5}, "budget_share"),
        ({"api_version": "latest"}, "api_version"),
    ],
)
def test_config_refuses_bad_settings(options, field):
    with pytest.raises(InvalidInputError) as info:
        ClientConfig(**options)
    assert info.value.field == field


def test_config_accepts_strings_from_connection_forms():
    config = ClientConfig(timeout="12.5", max_retries="3", max_requests_per_10s="50", budget_share="0.5")
    assert (config.timeout, config.max_retries, config.max_requests_per_10s, config.budget_share) == (12.5, 3, 50, 0.5)
    assert config.worst_case_call_seconds() == (4 + 2) * 2 * (10 + 12.5) + 120
