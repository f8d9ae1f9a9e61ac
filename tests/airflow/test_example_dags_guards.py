"""An example someone unpaused without configuring it refuses to act, saying what is missing, and creates nothing."""

from __future__ import annotations

import pytest

from tests.airflow.test_example_dags import get_dag, task_states

pytestmark = pytest.mark.airflow


@pytest.mark.parametrize("dag_id", ["example_hubspot_reconcile_messages", "example_hubspot_backfill_reconcile"])
def test_a_missing_store_fails_the_run_and_is_not_created(airflow_db, simulator, hubspot_conn, tmp_path, capfd, dag_id):
    store = tmp_path / "nowhere" / "integrator_store.sqlite"
    capfd.readouterr()
    dag_run = get_dag(dag_id).test(run_conf={"store_path": str(store)})
    output = "".join(capfd.readouterr())
    states = task_states(dag_run)
    assert states["load_batch"] == "failed", states
    assert states["reconcile"] != "success", states
    assert f"store_path {store} does not exist" in output
    assert not store.parent.exists()
    assert simulator.request_log == []


def test_without_a_connection_the_update_example_fails_naming_it(airflow_db, monkeypatch, capfd):
    monkeypatch.delenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", raising=False)
    capfd.readouterr()
    dag_run = get_dag("example_hubspot_update_message_status").test(
        run_conf={"channel_id": 1001, "message_id": "m-1", "status_type": "SENT"}
    )
    output = "".join(capfd.readouterr())
    assert task_states(dag_run)["update_message_status"] == "failed"
    assert "hubspot_channels_default" in output and "isn't defined" in output
