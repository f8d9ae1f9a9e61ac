"""Every example DAG imports cleanly in a real DagBag."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE_DAGS

EXPECTED = {
    "example_hubspot_update_message_status",
    "example_hubspot_reconcile_stale_messages",
    "example_hubspot_backfill_reconcile",
    "example_hubspot_discover_and_reconcile",
}


@pytest.mark.airflow
def test_example_dags_import_without_errors():
    from tests.conftest import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= EXPECTED
