"""UpdateMessageStatusOperator: parse-time validation, execute against the simulator, error mapping."""

from __future__ import annotations

import pytest

from airflow_provider_hubspot_channels.operators.errors import AirflowException, AirflowFailException
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


def test_on_kill_ends_a_call_that_waits_out_retries(monkeypatch):
    import threading
    import time

    from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
    from tests.conftest import connection_json

    with HubSpotSimulator(faults=FaultConfig(p_503=1.0, retry_after=30)) as sim:
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", connection_json(sim.base_url, password="t" * 20))
        op = UpdateMessageStatusOperator(task_id="t", channel_id=1001, message_id="m", status_type="READ")
        errors: list[BaseException] = []

        def run() -> None:
            try:
                op.execute({})
            except AirflowException as exc:  # the operator's mapping of the stopped client
                errors.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        deadline = time.monotonic() + 10
        while not any(e.status == 503 for e in sim.request_log) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the first 503 came back; the call then waits 30 s before its retry
        started = time.monotonic()
        op.on_kill()
        worker.join(5)
        assert not worker.is_alive() and time.monotonic() - started < 2
        assert "stopped" in str(errors[0])


@pytest.mark.parametrize(
    ("status", "fails_at_once"), [(400, True), (404, True), (409, True), (422, True), (500, False)]
)
def test_final_4xx_fail_at_once_others_follow_task_retries(status, fails_at_once):
    from airflow_provider_hubspot_channels.client.errors import ErrorDetails, error_for
    from airflow_provider_hubspot_channels.operators.errors import airflow_error

    error = airflow_error(error_for(ErrorDetails(status=status), method="PATCH", path="/p"), conn_id="c")
    assert isinstance(error, AirflowFailException) is fails_at_once
    assert "HubSpot connection 'c'" in str(error)


def test_a_kill_before_the_client_exists_still_stops_it(simulator, hubspot_conn):
    from airflow_provider_hubspot_channels.client import ClientStoppedError
    from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook

    hook = HubSpotChannelsHook()
    hook.stop()  # on_kill while the connection was still being read
    with pytest.raises(ClientStoppedError):
        hook.get_channel(1001)
    assert simulator.request_log == []
