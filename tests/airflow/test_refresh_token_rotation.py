"""A refresh token the token endpoint rotates is kept where the next task run reads it (hooks/rotation.py)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_hubspot_channels.hooks.rotation import fingerprint, newest_refresh_token, variable_key
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.airflow.test_example_dags import get_dag, task_states
from tests.conftest import connection_json

pytestmark = pytest.mark.airflow


def test_runs_after_a_rotation_use_the_newest_refresh_token(airflow_db, monkeypatch):
    # Refresh tokens are single use here: every run's refresh answers a new one and refuses the old one from then on.
    # Without keeping the newest, the second run would be refused ("OAuth refresh was refused").
    with HubSpotSimulator(rotate_refresh_tokens=True) as sim:
        configured = sim.refresh_token
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(
                sim.base_url, client_id=sim.client_id, client_secret=sim.client_secret, refresh_token=configured
            ),
        )
        dag = get_dag("example_hubspot_update_message_status")
        for run, message_id in enumerate(("m-1", "m-2", "m-3")):
            sim.add_message(1001, message_id)
            dag_run = dag.test(
                run_conf={"channel_id": 1001, "message_id": message_id, "status_type": "SENT"},
                logical_date=None,
            )
            assert dag_run.state == "success", (run, task_states(dag_run))
            assert sim.get_message(1001, message_id)["status"]["statusType"] == "SENT"
        assert sim.token_requests == 3
    # The test process is no task: the Task SDK's Variable cannot read the store here, the ORM can.
    from airflow.models import Variable as StoredVariable

    stored = json.loads(StoredVariable.get(variable_key("hubspot_channels_default")))  # noqa: AIR311
    assert stored["origin"] == fingerprint(configured) and stored["refresh_token"] not in (configured, None)


@pytest.mark.parametrize(
    ("stored", "configured", "used"),
    [
        ({"origin": fingerprint("refresh-A"), "refresh_token": "refresh-B"}, "refresh-A", "refresh-B"),
        # Re-authorized: the connection's new token wins over a stored rotation of the old one.
        ({"origin": fingerprint("refresh-A"), "refresh_token": "refresh-B"}, "refresh-C", "refresh-C"),
        ("not json", "refresh-A", "refresh-A"),
        ({"origin": fingerprint("refresh-A")}, "refresh-A", "refresh-A"),
    ],
)
def test_a_stored_rotation_is_used_only_for_the_token_it_descends_from(monkeypatch, stored, configured, used):
    value = stored if isinstance(stored, str) else json.dumps(stored)
    monkeypatch.setenv(f"AIRFLOW_VAR_{variable_key('conn_x').upper()}", value)
    assert newest_refresh_token("conn_x", configured) == used
