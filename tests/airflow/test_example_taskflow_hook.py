"""The TaskFlow example uses the hook as a context manager, end to end against the simulator (``dag.test()``)."""

from __future__ import annotations

import pytest

from tests.airflow.test_example_dags import get_dag, task_states

pytestmark = pytest.mark.airflow

DAG_ID = "example_hubspot_taskflow_hook"


def patches(simulator, message_id):
    return [c["statusType"] for c in simulator.status_history(1001, message_id) if c["source"] == "api"]


def test_it_reports_the_status_of_a_message_without_one(airflow_db, simulator, hubspot_conn):
    simulator.add_message(1001, "tf-new")
    dag_run = get_dag(DAG_ID).test(
        run_conf={"channel_id": 1001, "message_id": "tf-new", "status_type": "FAILED", "error_message": "Bounced."}
    )
    assert dag_run.state == "success", task_states(dag_run)
    status = simulator.get_message(1001, "tf-new")["status"]
    assert status["statusType"] == "FAILED" and status["failureDetails"]["errorMessage"] == "Bounced."


def test_it_leaves_a_read_message_alone(airflow_db, simulator, hubspot_conn):
    simulator.add_message(1001, "tf-read", status_type="READ")
    before = patches(simulator, "tf-read")
    dag_run = get_dag(DAG_ID).test(run_conf={"channel_id": 1001, "message_id": "tf-read", "status_type": "SENT"})
    assert dag_run.state == "success", task_states(dag_run)
    assert simulator.get_message(1001, "tf-read")["status"]["statusType"] == "READ"
    assert patches(simulator, "tf-read") == before
    methods = [entry.method for entry in simulator.request_log]
    assert methods == ["GET"], methods


def test_an_unknown_message_fails_the_task(airflow_db, simulator, hubspot_conn):
    dag_run = get_dag(DAG_ID).test(run_conf={"channel_id": 1001, "message_id": "tf-ghost", "status_type": "SENT"})
    assert task_states(dag_run)["report_status"] == "failed"
