"""Resume under real Airflow 3.3: a reconciliation cut by ``execution_timeout`` at about half, retried by Airflow.

``dag.test()`` runs each try through Airflow's own task runner and in-process supervisor, so
``context["task_state_store"]`` is the real one (rows in the metadata database, kept across the tries of one task
instance) and the retry is Airflow's (``retries``). The SIGKILL case needs the scheduler: tests/e2e.
"""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone
from importlib.metadata import version

import pytest

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

pytestmark = [
    pytest.mark.airflow,
    # Airflow's execution timeout is a SIGALRM: pytest-timeout must not use the same signal.
    pytest.mark.timeout(300, method="thread"),
    pytest.mark.skipif(
        tuple(int(p) for p in version("apache-airflow").split(".")[:2]) < (3, 3),
        reason="task_state_store (resume after a retry) exists from Airflow 3.3 on",
    ),
]

END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
COUNT = 60
DAG_ID = "hubspot_resume_after_timeout"

DAG_FILE = textwrap.dedent(
    """
    from datetime import timedelta

    from airflow.sdk import DAG

    from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator

    with DAG("{dag_id}", schedule=None, catchup=False):
        ReconcileMessagesOperator(
            task_id="reconcile",
            messages=[
                {{"channel_id": 1001, "message_id": f"m-{{i}}", "created_at": "2026-11-24T10:00:00Z"}}
                for i in range({count})
            ],
            stale_after=timedelta(minutes=15),
            max_concurrency=2,
            report_path="{report}",
            execution_timeout=timedelta(seconds={timeout}),
            retries=2,
            retry_delay=timedelta(seconds=0),
        )
    """
)


@pytest.fixture
def slow_simulator():
    # 60 messages x (GET + PATCH) at 0.05 s each (+ HTTP) / 2 threads: about 6 s, cut at 4 s by the timeout.
    with HubSpotSimulator(rate_limit=None, latency=0.05) as sim:
        yield sim


def test_a_reconciliation_cut_by_its_execution_timeout_resumes_on_airflows_retry(
    airflow_db, slow_simulator, tmp_path, monkeypatch
):
    sim = slow_simulator
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
        json.dumps({"conn_type": "hubspot_channels", "host": sim.base_url, "password": sim.access_token}),
    )
    for i in range(COUNT):
        sim.add_message(1001, f"m-{i}", created_at=END - timedelta(hours=2))
    # Saves every 200 rows or 5 s by default; a 60-row test batch needs them more often (the cadence is the
    # runner's; what is tested here is Airflow's store and retry).
    monkeypatch.setattr("airflow_provider_hubspot_channels.runner.progress.SAVE_EVERY_ROWS", 5)
    report = tmp_path / "report.jsonl"
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "resume_dag.py").write_text(DAG_FILE.format(dag_id=DAG_ID, count=COUNT, report=report, timeout=4))
    # dag.test() serializes the DAG from a configured bundle: one of this test's own (DAGS_FOLDER is read at import).
    bundle = {"name": "resume-test", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle"}
    bundle["kwargs"] = {"path": str(dags), "refresh_interval": 0}
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    from tests.conftest import DagBag

    bag = DagBag(dag_folder=str(dags))
    assert bag.import_errors == {}
    dag_run = bag.get_dag(DAG_ID).test(logical_date=END)

    (ti,) = dag_run.get_task_instances()
    assert dag_run.state == "success" and ti.try_number >= 2  # cut by the timeout, then retried by Airflow
    log = sim.request_log
    patched = [e.path.rsplit("/", 1)[-1] for e in log if e.method == "PATCH"]
    read = [e.path.rsplit("/", 1)[-1] for e in log if e.method == "GET"]
    # Each message PATCHed once; read once, plus a second GET only for those the first try left unsettled.
    assert sorted(patched) == sorted(f"m-{i}" for i in range(COUNT))
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(COUNT))
    outcomes = {r["outcome"] for r in rows}
    assert outcomes <= {"marked_failed", "already_correct"}
    redone = len(read) - COUNT
    assert 0 <= redone <= COUNT // 2, f"the retry read {redone} messages again"
    for i in range(COUNT):
        assert [h["statusType"] for h in sim.status_history(1001, f"m-{i}")] == ["FAILED"]
