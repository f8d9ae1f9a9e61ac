"""Reconciliation tasks with ``outlets=[Asset(...)]`` attach the run's counts to the asset event (operators/assets.py).

The producer runs with ``dag.test()``; the event and its extra are read back from Airflow's metadata DB.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime, timezone

import pytest

from tests.airflow.test_example_dags import fresh_store, get_dag, seed, task_states  # noqa: F401 (fixture)

pytestmark = pytest.mark.airflow

PRODUCER = "example_hubspot_reconcile_messages"
CONSUMER = "example_hubspot_alert_on_failed_messages"
END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def asset_events(uri: str) -> list[object]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id).where(AssetModel.uri == uri)
        ).all()
        session.expunge_all()
        return list(rows)


def reconciled_uri() -> str:
    dag = get_dag(PRODUCER)
    (outlet,) = dag.get_task("reconcile").outlets
    return outlet.uri


def test_the_reconcile_example_emits_its_counts_as_the_asset_event(airflow_db, simulator, hubspot_conn, fresh_store):  # noqa: F811
    seed(
        simulator,
        fresh_store,
        [
            ("stale-1", 30, "pending", None),
            ("stale-2", 40, "pending", None),
            ("carrier-1", 30, "failed", None),
            ("fresh-1", 5, "pending", None),
            ("done-1", 30, "delivered", "SENT"),
        ],
        end=END,
    )
    uri = reconciled_uri()
    before = len(asset_events(uri))
    dag_run = get_dag(PRODUCER).test(logical_date=END)
    assert dag_run.state == "success", task_states(dag_run)
    events = asset_events(uri)
    assert len(events) == before + 1
    event = events[-1]
    extra = event.extra
    assert (event.source_dag_id, event.source_task_id) == (PRODUCER, "reconcile")
    assert extra["marked_failed"] == 2 and extra["marked_failed_by_carrier"] == 1, extra
    assert extra["counts"]["skipped_not_stale"] == 1 and extra["total"] == 5, extra
    assert extra["dry_run"] is False
    assert extra["reference_time"] == END.isoformat()
    assert extra["channel_ids"] == ["1001"]
    assert extra["report_path"].endswith(".jsonl")
    text = json.dumps(extra)
    assert len(text) < 2048
    # counts, never messages: no message id (and so no recipient or text) reaches the event
    for message_id in ("stale-1", "stale-2", "carrier-1", "fresh-1", "done-1"):
        assert message_id not in text


# --- The consumer: scheduled on the asset, through the scheduler's own run creation --------------------------------
# dag.test() cannot supply triggering events (it replaces any run it finds with a fresh manual one whose
# consumed_asset_events is empty), so the consumer's run is created as the scheduler creates it, from the queue the
# producer's event filled, and its task runs as dag.test() runs tasks.


def sync_examples_to_db() -> None:
    """Serialize every example DAG into the metadata DB, as the DAG processor (and dag.test()) does."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    try:
        from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    except ImportError:
        pytest.skip("this Airflow lacks BundleDagBag and sync_bag_to_db (3.3 has them)")

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)


def unpause(dag_id: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        assert model is not None, f"{dag_id} is not in the DB"
        assert model.is_paused, "example DAGs must start paused"
        model.is_paused = False


def run_consumer_as_scheduled() -> tuple[str | None, list[dict[str, object]]]:
    """Create the consumer's asset-triggered run as the scheduler does, run its tasks; its state and events."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    with create_session() as session:
        query, _ = DagModel.dags_needing_dagruns(session)
        due = [model for model in query.all() if model.dag_id == CONSUMER]
        assert due, "the producer's event queued no run of the consumer"
        SchedulerJobRunner(job=Job())._create_dag_runs_asset_triggered(dag_models=due, session=session)
    dag = get_dag(CONSUMER)
    with create_session() as session:
        dag_run = session.scalars(
            select(DagRun)
            .where(DagRun.dag_id == CONSUMER, DagRun.run_type == DagRunType.ASSET_TRIGGERED)
            .order_by(DagRun.id.desc())
        ).first()
        assert dag_run is not None
        events = [dict(event.extra) for event in dag_run.consumed_asset_events]
        run_id = dag_run.run_id
        # what the scheduler's _start_queued_dagruns does next
        dag_run.state = DagRunState.RUNNING
    for _ in range(len(dag.tasks)):
        with create_session() as session:
            dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == CONSUMER, DagRun.run_id == run_id)).one()
            dag_run.dag = DBDagBag().get_dag_for_run(dag_run, session=session)
            schedulable, _ = dag_run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in schedulable:
                with contextlib.suppress(Exception):  # the task's state says how it ended
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id])
    with create_session() as session:
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == CONSUMER, DagRun.run_id == run_id)).one()
        dag_run.dag = DBDagBag().get_dag_for_run(dag_run, session=session)
        dag_run.update_state(session=session)
        session.commit()
        return dag_run.state, events


def produce(simulator, store, *, stale: int, carrier: int, tag: str) -> None:
    import os

    if os.path.exists(store):
        os.remove(store)
    rows = [(f"{tag}-stale-{n}", 30, "pending", None) for n in range(stale)]
    rows += [(f"{tag}-carrier-{n}", 30, "failed", None) for n in range(carrier)]
    seed(simulator, store, rows, end=END)
    dag_run = get_dag(PRODUCER).test(logical_date=END)
    assert dag_run.state == "success", task_states(dag_run)


def test_the_alert_dag_fails_when_a_run_marked_more_than_max_failed(airflow_db, simulator, hubspot_conn, fresh_store):  # noqa: F811
    sync_examples_to_db()
    unpause(CONSUMER)
    # max_failed defaults to 10: 9 stale + 2 by the carrier = 11 is over it
    produce(simulator, fresh_store, stale=9, carrier=2, tag="over")
    state, events = run_consumer_as_scheduled()
    assert state == "failed"
    assert {(e["marked_failed"], e["marked_failed_by_carrier"]) for e in events} >= {(9, 2)}
    # 10 is not over the threshold: the next run triggered by the asset passes
    produce(simulator, fresh_store, stale=8, carrier=2, tag="at")
    state, events = run_consumer_as_scheduled()
    assert [(e["marked_failed"], e["marked_failed_by_carrier"]) for e in events] == [(8, 2)]
    assert state == "success"


def test_a_manual_run_of_the_alert_dag_has_nothing_to_check(airflow_db):
    dag_run = get_dag(CONSUMER).test()
    assert dag_run.state == "success", task_states(dag_run)


BATCH_DAG = """
from airflow.sdk import DAG

from airflow_provider_hubspot_channels.operators.assets import channel_asset
from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator

with DAG(dag_id="test_hubspot_batch_update_outlet", schedule=None):
    UpdateMessageStatusOperator(
        task_id="replay_receipts",
        updates=[
            {"channel_id": 1001, "message_id": "u-1", "status_type": "SENT"},
            {"channel_id": 1001, "message_id": "u-2", "status_type": "FAILED", "error_message": "Bounced."},
            {"channel_id": 1001, "message_id": "u-3", "status_type": "READ"},
        ],
        outlets=[channel_asset(1001)],
    )
"""


def test_the_batch_update_operator_emits_its_counts_too(airflow_db, simulator, hubspot_conn, tmp_path):
    from airflow_provider_hubspot_channels.operators.assets import channel_asset
    from tests.conftest import DagBag

    sync_examples_to_db()  # skips where Airflow lacks sync_bag_to_db
    from airflow.dag_processing.dagbag import sync_bag_to_db

    for message_id in ("u-1", "u-2", "u-3"):
        simulator.add_message(1001, message_id)
    (tmp_path / "batch_dag.py").write_text(BATCH_DAG)
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    # dag.test() runs only serialized DAGs: this one is written to the DB as the DAG processor would
    sync_bag_to_db(bag, "dags-folder", None)
    uri = channel_asset(1001).uri
    before = len(asset_events(uri))
    dag_run = bag.get_dag("test_hubspot_batch_update_outlet").test()
    assert dag_run.state == "success", task_states(dag_run)
    (event,) = asset_events(uri)[before:]
    assert event.extra["counts"] == {"marked_sent": 1, "marked_failed": 1, "marked_read": 1}, event.extra
    assert event.extra["reference_time"] is None and event.extra["channel_ids"] == ["1001"]
