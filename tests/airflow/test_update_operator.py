"""UpdateMessageStatusOperator: parse-time validation, execute against the simulator, error mapping."""

from __future__ import annotations

import pytest

from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator


def test_literal_arguments_are_validated_at_parse_time():
    with pytest.raises(ValueError, match="status_type"):
        UpdateMessageStatusOperator(task_id="t", channel_id=1, message_id="m", status_type="DONE")
    with pytest.raises(ValueError, match="error_message"):
        UpdateMessageStatusOperator(task_id="t", channel_id=1, message_id="m", status_type="SENT", error_message="x")
    with pytest.raises(ValueError, match="channel_id"):
        UpdateMessageStatusOperator(task_id="t", channel_id="abc", message_id="m", status_type="SENT")
    # templated values wait for rendering
    UpdateMessageStatusOperator(task_id="t", channel_id="{{ params.c }}", message_id="m", status_type="{{ x }}")


def test_execute_returns_the_summary(simulator, hubspot_conn):
    simulator.add_message(1001, "m-1")
    result = UpdateMessageStatusOperator(
        task_id="t", channel_id="1001", message_id="m-1", status_type="failed", error_message="Carrier rejected."
    ).execute({})
    assert result["id"] == "m-1" and result["channelId"] == "1001"
    assert result["statusType"] == "FAILED" and result["errorMessage"] == "Carrier rejected."
    assert result["updatedAt"]


def test_rendered_bad_input_fails_without_a_request(simulator, hubspot_conn):
    op = UpdateMessageStatusOperator(task_id="t", channel_id=1001, message_id="m", status_type="{{ x }}")
    op.status_type = "DELIVERED"  # what rendering produced
    with pytest.raises(AirflowFailException, match="nothing was sent"):
        op.execute({})
    assert simulator.request_log == []


def test_404_fails_at_once_with_correlation_id(simulator, hubspot_conn):
    op = UpdateMessageStatusOperator(task_id="t", channel_id=1001, message_id="missing", status_type="READ")
    with pytest.raises(AirflowFailException, match=r"correlationId: [0-9a-f-]{36}"):
        op.execute({})


def test_hook_test_connection(simulator, hubspot_conn):
    from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook

    ok, message = HubSpotChannelsHook().test_connection()
    assert ok, message
    assert "1001" in message
