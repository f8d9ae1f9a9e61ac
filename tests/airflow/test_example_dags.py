"""Every example DAG runs end to end with ``dag.test()`` against the simulator."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_hubspot_channels.simulator.state import DEFAULT_INBOX_ID
from airflow_provider_hubspot_channels.sqlite_store import connect, insert_records
from tests.conftest import EXAMPLE_DAGS

pytestmark = pytest.mark.airflow


def get_dag(dag_id):
    from tests.conftest import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def task_states(dag_run):
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def test_update_message_status_dag(airflow_db, simulator, hubspot_conn):
    simulator.add_message(1001, "msg-42")
    dag_run = get_dag("example_hubspot_update_message_status").test(
        run_conf={"channel_id": 1001, "message_id": "msg-42", "status_type": "FAILED", "error_message": "Bounced."}
    )
    assert dag_run.state == "success", task_states(dag_run)
    status = simulator.get_message(1001, "msg-42")["status"]
    assert status["statusType"] == "FAILED" and status["failureDetails"]["errorMessage"] == "Bounced."


def store_path() -> str:
    return os.environ["HUBSPOT_CHANNELS_STORE"]


@pytest.fixture
def fresh_store():
    path = store_path()
    if os.path.exists(path):
        os.remove(path)
    yield path


def seed(simulator, store, rows, *, end):
    records = []
    for message_id, minutes, delivery, hubspot in rows:
        created = end - timedelta(minutes=minutes)
        if hubspot != "unknown":
            simulator.add_message(1001, message_id, created_at=created.isoformat(), status_type=hubspot)
        records.append(
            {
                "channel_id": 1001,
                "message_id": message_id,
                "created_at": created.isoformat(),
                "delivery_status": delivery,
            }
        )
    insert_records(store, records)


def test_scheduled_reconcile_dag_marks_stale_and_writes_back(airflow_db, simulator, hubspot_conn, fresh_store):
    end = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    seed(
        simulator,
        fresh_store,
        [
            ("stale-1", 30, "pending", None),
            ("stale-read", 30, "pending", "READ"),
            ("fresh-1", 5, "pending", None),
            ("done-1", 30, "delivered", "SENT"),
            ("ghost-1", 30, "pending", "unknown"),
        ],
        end=end,
    )
    # dag.test() infers a manual run's data interval as the one ending at the given time
    dag_run = get_dag("example_hubspot_reconcile_stale_messages").test(logical_date=end)
    assert dag_run.state == "success", task_states(dag_run)
    assert dag_run.data_interval_end == end
    assert simulator.get_message(1001, "stale-1")["status"]["statusType"] == "FAILED"
    assert simulator.get_message(1001, "stale-read")["status"]["statusType"] == "READ"
    assert "status" not in simulator.get_message(1001, "fresh-1")
    with connect(fresh_store) as db:
        rows = {
            r["message_id"]: (r["delivery_status"], r["reconciled_at"])
            for r in db.execute("SELECT * FROM outgoing_messages")
        }
    assert rows["stale-1"][0] == "failed" and rows["stale-1"][1]
    assert rows["stale-read"][1] and rows["fresh-1"] == ("pending", None)
    assert rows["ghost-1"] == ("pending", None)


def test_backfill_dag_handles_exactly_its_window(airflow_db, simulator, hubspot_conn, fresh_store):
    start = datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc)
    end = start + timedelta(hours=1)
    # SLA deadline (created + 15 min) inside (03:00, 04:00] <=> created in (02:45, 03:45]
    seed(
        simulator,
        fresh_store,
        [
            ("before", 76, "pending", None),  # created 02:44: deadline 02:59, previous window
            ("first", 75, "pending", None),  # created 02:45: deadline 03:00, previous window (exclusive start)
            ("inside", 60, "pending", None),  # created 03:00
            ("last", 15, "pending", None),  # created 03:45: deadline 04:00, this window
            ("after", 14, "pending", None),  # created 03:46: next window
        ],
        end=end,
    )
    dag_run = get_dag("example_hubspot_backfill_reconcile").test(logical_date=end)
    assert dag_run.state == "success", task_states(dag_run)
    assert (dag_run.data_interval_start, dag_run.data_interval_end) == (start, end)
    marked = {
        m: (simulator.get_message(1001, m).get("status") or {}).get("statusType")
        for m in ("before", "first", "inside", "last", "after")
    }
    assert marked == {"before": None, "first": None, "inside": "FAILED", "last": "FAILED", "after": None}


def test_discovery_dag_finds_and_reconciles(airflow_db, simulator, hubspot_conn):
    logical = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
    simulator.add_message(1001, "disc-stale", created_at=(logical + timedelta(minutes=5)).isoformat())
    simulator.add_message(
        1001, "disc-read", created_at=(logical + timedelta(minutes=6)).isoformat(), status_type="READ"
    )
    simulator.add_message(1001, "disc-fresh", created_at=(logical + timedelta(minutes=55)).isoformat())
    simulator.add_message(1001, "disc-old", created_at=(logical - timedelta(minutes=30)).isoformat())
    conf = {"inbox_id": DEFAULT_INBOX_ID, "channel_id": 1001}
    dag_run = get_dag("example_hubspot_discover_and_reconcile").test(
        logical_date=logical + timedelta(hours=1), run_conf=conf
    )
    assert dag_run.state == "success", task_states(dag_run)
    assert dag_run.data_interval_start == logical
    assert simulator.get_message(1001, "disc-stale")["status"]["statusType"] == "FAILED"
    assert simulator.get_message(1001, "disc-read")["status"]["statusType"] == "READ"
    assert "status" not in simulator.get_message(1001, "disc-fresh")
    assert "status" not in simulator.get_message(1001, "disc-old")
