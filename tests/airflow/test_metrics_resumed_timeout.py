"""Metrics of a try cut by execution_timeout, and of its resumed retry (an independent review found both lost)."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.airflow.test_metrics import received, statsd  # noqa: F401  (fixture)
from tests.airflow.test_resume_airflow import (  # noqa: F401
    COUNT,
    DAG_FILE,
    DAG_ID,
    END,
    pytestmark,
    slow_simulator,
)


def test_every_message_is_counted_once_across_a_timeout_and_its_resumed_retry(
    airflow_db,
    slow_simulator,  # noqa: F811
    tmp_path,
    monkeypatch,
    statsd,  # noqa: F811
):
    """metrics.py: 'a resumed batch's summary also holds the rows an earlier try settled (and that try, if it ended,
    already emitted them)'. A try cut by execution_timeout emits nothing (docs/metrics.md), and the resumed try
    subtracts its rows: those outcomes are never counted. Expected: outcome counters sum to the batch."""
    sim = slow_simulator
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
        json.dumps({"conn_type": "hubspot_channels", "host": sim.base_url, "password": sim.access_token}),
    )
    for i in range(COUNT):
        sim.add_message(1001, f"m-{i}", created_at=END - timedelta(hours=2))
    monkeypatch.setattr("airflow_provider_hubspot_channels.runner.progress.SAVE_EVERY_ROWS", 5)
    report = tmp_path / "report.jsonl"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "resume_dag.py").write_text(DAG_FILE.format(dag_id=DAG_ID, count=COUNT, report=report, timeout=4))
    bundle = {"name": "resume-test", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle"}
    bundle["kwargs"] = {"path": str(dags), "refresh_interval": 0}
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    from tests.conftest import DagBag

    bag = DagBag(dag_folder=str(dags))
    dag_run = bag.get_dag(DAG_ID).test(logical_date=END)
    (ti,) = dag_run.get_task_instances()
    assert dag_run.state == "success" and ti.try_number >= 2
    got = received(statsd)
    counted = {name: sum(v for v, _ in values) for name, values in got.items() if name.startswith("outcome.")}
    assert sum(counted.values()) == COUNT, counted
