"""Every example DAG imports cleanly in a real DagBag."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE_DAGS

EXPECTED = {
    "example_hubspot_update_message_status",
    "example_hubspot_reconcile_messages",
    "example_hubspot_backfill_reconcile",
    "example_hubspot_discover_and_reconcile",
}


@pytest.mark.airflow
def test_example_dags_import_without_errors():
    from tests.conftest import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= EXPECTED


@pytest.mark.airflow
def test_tasks_that_load_a_batch_keep_it_out_of_the_log():
    """A @task feeding the reconciliation returns the batch (recipients included): Airflow must not log it.

    Checked on every example, including ones added later; ``test_example_dags`` proves the effect on real runs.
    """
    from tests.conftest import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    feeders = [
        (dag.dag_id, upstream)
        for dag in bag.dags.values()
        for task in dag.tasks
        if task.task_id.startswith("reconcile")
        for upstream in task.upstream_list
    ]
    assert {dag_id for dag_id, _ in feeders} >= EXPECTED - {"example_hubspot_update_message_status"}
    for dag_id, task in feeders:
        # Classic operators' return values are not logged; Python tasks' are, unless switched off.
        assert getattr(task, "show_return_value_in_logs", False) is False, f"{dag_id}.{task.task_id}"


@pytest.mark.airflow
def test_parsing_the_examples_writes_nothing(tmp_path, monkeypatch):
    """With load_examples on, Airflow parses provider examples anywhere: parsing must not create files."""
    from tests.conftest import DagBag

    monkeypatch.setenv("HUBSPOT_CHANNELS_STORE", str(tmp_path / "store" / "integrator_store.sqlite"))
    monkeypatch.setenv("HUBSPOT_CHANNELS_REPORTS", str(tmp_path / "reports"))
    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= EXPECTED
    assert list(tmp_path.iterdir()) == []
