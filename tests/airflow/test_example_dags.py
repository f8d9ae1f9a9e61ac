"""Every example DAG runs end to end with ``dag.test()`` against the simulator."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_hubspot_channels.simulator.state import DEFAULT_INBOX_ID
from airflow_provider_hubspot_channels.sqlite_store import connect, insert_records, load_unreconciled
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
    dag_run = get_dag("example_hubspot_reconcile_messages").test(logical_date=end)
    assert dag_run.state == "success", task_states(dag_run)
    assert dag_run.data_interval_end == end
    assert simulator.get_message(1001, "stale-1")["status"]["statusType"] == "FAILED"
    assert simulator.get_message(1001, "stale-read")["status"]["statusType"] == "READ"
    assert "status" not in simulator.get_message(1001, "fresh-1")
    rows = store_rows(fresh_store)
    # The store keeps its receipts and learns what HubSpot shows now; the next run loads only what disagrees.
    assert rows["stale-1"] == ("pending", "FAILED", None) and rows["stale-read"] == ("pending", "READ", None)
    assert rows["done-1"] == ("delivered", "SENT", None) and rows["fresh-1"] == ("pending", None, None)
    # unknown to HubSpot: abandoned (not looked up again every run), its delivery status kept
    assert rows["ghost-1"] == ("pending", None, "not_found")
    assert [r["message_id"] for r in load_unreconciled(fresh_store, created_at_or_before=end)] == ["fresh-1"]


def store_rows(path):
    with connect(path) as db:
        return {
            r["message_id"]: (r["delivery_status"], r["reported_status"], r["abandoned"])
            for r in db.execute("SELECT * FROM outgoing_messages")
        }


def test_a_refused_write_fails_the_run_once_and_the_rest_is_still_written_back(
    airflow_db, simulator, hubspot_conn, fresh_store
):
    # HubSpot refuses one PATCH for good (400): the reconcile task fails without retries, yet the messages it did
    # settle are written back, and the refused one is not loaded again (it would fail every later run).
    from airflow_provider_hubspot_channels.simulator import FaultConfig

    end = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    seed(simulator, fresh_store, [("stale-1", 30, "pending", None), ("refused-1", 30, "pending", None)], end=end)
    simulator.set_faults(FaultConfig(script=("400",), only_methods=frozenset({"PATCH"}), only_paths=("*/refused-1",)))
    dag_run = get_dag("example_hubspot_reconcile_messages").test(logical_date=end)
    states = task_states(dag_run)
    assert states["reconcile"] == "failed" and states["write_back"] == "success", states
    assert simulator.get_message(1001, "stale-1")["status"]["statusType"] == "FAILED"
    rows = store_rows(fresh_store)
    assert rows["stale-1"] == ("pending", "FAILED", None) and rows["refused-1"] == ("pending", None, "refused")
    assert load_unreconciled(fresh_store, created_at_or_before=end) == []


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


def marked_failed_by_api(simulator, message_id):
    """How many times the reconciliation set FAILED on a message through the API."""
    return sum(
        1
        for change in simulator.status_history(1001, message_id)
        if change["source"] == "api" and change["statusType"] == "FAILED" and change["accepted"]
    )


def test_discovery_dag_covers_consecutive_windows_exactly_once(airflow_db, simulator, hubspot_conn):
    start = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    middle, end = start + timedelta(hours=1), start + timedelta(hours=2)
    # Two hourly runs, [10:00, 11:00) then [11:00, 12:00), with a 15-minute SLA: each run lists the messages created
    # in [start - 15 min, end - 15 min), so together they handle exactly those whose SLA deadline (created + 15 min)
    # falls in [10:00, 12:00).
    messages = {
        # message id: (created at, status in HubSpot, FAILED by the two runs)
        "before": (start - timedelta(minutes=16), None, False),  # deadline 09:59: the run before
        "first": (start - timedelta(minutes=15), None, True),  # deadline 10:00 (the first window's start)
        "early": (start + timedelta(minutes=5), None, True),
        "early-read": (start + timedelta(minutes=6), "READ", False),
        "mid-first": (start + timedelta(minutes=44), None, True),
        "tail-edge": (middle - timedelta(minutes=15), None, True),  # deadline 11:00: the second run's window start
        "tail": (middle - timedelta(minutes=10), None, True),  # fresh at 11:00, missed when listing the interval
        "tail-read": (middle - timedelta(minutes=8), "READ", False),
        "tail-last": (middle - timedelta(seconds=1), None, True),
        "boundary": (middle, None, True),  # exactly on the intervals' boundary
        "mid-second": (middle + timedelta(minutes=30), None, True),
        "late-last": (end - timedelta(minutes=15, seconds=1), None, True),
        "late-edge": (end - timedelta(minutes=15), None, False),  # deadline 12:00: the run after
        "late": (end - timedelta(minutes=5), None, False),
    }
    for message_id, (created, hubspot, _) in messages.items():
        simulator.add_message(1001, message_id, created_at=created.isoformat(), status_type=hubspot)
    dag = get_dag("example_hubspot_discover_and_reconcile")
    conf = {"inbox_id": DEFAULT_INBOX_ID, "channel_id": 1001, "stale_after_minutes": 15}
    # dag.test() infers a manual run's data interval as the one ending at the given time
    for interval_end in (middle, end):
        dag_run = dag.test(logical_date=interval_end, run_conf=conf)
        assert dag_run.state == "success", task_states(dag_run)
        assert dag_run.data_interval_end == interval_end
        assert dag_run.data_interval_start == interval_end - timedelta(hours=1)
    for message_id, (_, hubspot, failed) in messages.items():
        status = (simulator.get_message(1001, message_id).get("status") or {}).get("statusType")
        assert status == ("FAILED" if failed else hubspot), message_id
        assert marked_failed_by_api(simulator, message_id) == (1 if failed else 0), message_id


# --- What the task logs show: ids and counts, never the batch (recipients are personal data) --------------------

#: A few KB: a summary table row or a traceback line, never a whole batch.
MAX_LOG_LINE = 4096


def recipients(count: int) -> list[str]:
    # A numbering nothing else in the run produces, so that a match can only be a leaked recipient.
    return [f"+4479{n:08d}" for n in range(count)]


def assert_no_recipient_logged(output: str, phones: list[str], *, logged: str) -> None:
    # The operator's own log line proves the task logs were captured: otherwise the check would pass for any DAG.
    assert logged in output
    leaked = [phone for phone in phones if phone in output]
    assert leaked == [], f"{len(leaked)} recipients in the task logs, e.g. {leaked[:3]}"
    longest = max(output.splitlines(), key=len)
    assert len(longest) <= MAX_LOG_LINE, f"a log line of {len(longest)} characters: {longest[:200]}..."


def seed_with_recipients(simulator, store, *, end, fresh: int, stale: int) -> list[str]:
    """``fresh`` pending messages still inside their SLA (no HubSpot call) and ``stale`` ones to mark FAILED."""
    phones = recipients(fresh + stale)
    records = []
    for n, phone in enumerate(phones):
        created = end - timedelta(minutes=5 if n < fresh else 30, seconds=n)
        if n >= fresh:
            simulator.add_message(1001, f"m-{n}", created_at=created.isoformat(), recipient=phone)
        records.append({"channel_id": 1001, "message_id": f"m-{n}", "created_at": created, "recipient": phone})
    insert_records(store, records)
    return phones


def test_scheduled_reconcile_dag_logs_no_recipients(airflow_db, simulator, hubspot_conn, fresh_store, capfd):
    end = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    phones = seed_with_recipients(simulator, fresh_store, end=end, fresh=600, stale=5)
    capfd.readouterr()
    dag_run = get_dag("example_hubspot_reconcile_messages").test(logical_date=end)
    output = "".join(capfd.readouterr())
    assert dag_run.state == "success", task_states(dag_run)
    assert simulator.get_message(1001, "m-604")["status"]["statusType"] == "FAILED"
    assert_no_recipient_logged(output, phones, logged="Reconciled 605 messages")


def test_backfill_dag_logs_no_recipients(airflow_db, simulator, hubspot_conn, fresh_store, capfd):
    end = datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc)
    # Created 30 min before the end: their SLA ran out inside the hour, so the backfill run loads and marks them.
    phones = seed_with_recipients(simulator, fresh_store, end=end, fresh=0, stale=5)
    capfd.readouterr()
    dag_run = get_dag("example_hubspot_backfill_reconcile").test(logical_date=end)
    output = "".join(capfd.readouterr())
    assert dag_run.state == "success", task_states(dag_run)
    assert simulator.get_message(1001, "m-4")["status"]["statusType"] == "FAILED"
    assert_no_recipient_logged(output, phones, logged="Reconciled 5 messages")


def test_discovery_dag_logs_no_recipients(airflow_db, simulator, hubspot_conn, capfd):
    end = datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)
    phones = recipients(5)
    for n, phone in enumerate(phones):
        created = end - timedelta(minutes=40, seconds=n)
        simulator.add_message(1001, f"d-{n}", created_at=created.isoformat(), recipient=phone)
    conf = {"inbox_id": DEFAULT_INBOX_ID, "channel_id": 1001, "stale_after_minutes": 15}
    capfd.readouterr()
    dag_run = get_dag("example_hubspot_discover_and_reconcile").test(logical_date=end, run_conf=conf)
    output = "".join(capfd.readouterr())
    assert dag_run.state == "success", task_states(dag_run)
    assert simulator.get_message(1001, "d-4")["status"]["statusType"] == "FAILED"
    assert_no_recipient_logged(output, phones, logged="Found 5 outgoing messages of channel 1001")
