"""Reconciliation tasks with ``outlets=[Asset(...)]`` attach the run's counts to the asset event (operators/assets.py).

The producer runs with ``dag.test()``; the event and its extra are read back from Airflow's metadata DB.
"""

from __future__ import annotations

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
