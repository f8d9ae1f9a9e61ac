"""A reconciliation whose task process is SIGKILLed at about half, retried by Airflow's scheduler, resumes.

Real services (API server, scheduler, DAG processor, LocalExecutor, SQLite): the task process dies with no chance to
clean up (no ``on_kill``, no final save), its supervisor reports the try failed, the scheduler retries it, and the
retry reads the progress the first try saved in ``task_state_store`` (the periodic saves: every 200 rows or 5 s).
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.e2e._airflow import airflow_services, wait_for

DAG_ID = "hubspot_resume_after_sigkill"
CHANNEL = 1001
COUNT = 150
RUNS_TIMEOUT = float(os.environ.get("HUBSPOT_E2E_RUNS_TIMEOUT", "360"))

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        tuple(int(p) for p in version("apache-airflow").split(".")[:2]) < (3, 3),
        reason="task_state_store (resume after a retry) exists from Airflow 3.3 on",
    ),
]

DAG_FILE = textwrap.dedent(
    """
    from datetime import timedelta

    from airflow.sdk import DAG

    from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator

    with DAG("{dag_id}", schedule=None, catchup=False):
        ReconcileMessagesOperator(
            task_id="reconcile",
            messages=[
                {{"channel_id": {channel}, "message_id": f"m-{{i}}", "created_at": "2026-01-01T00:00:00Z"}}
                for i in range({count})
            ],
            stale_after=timedelta(minutes=15),
            max_concurrency=2,
            report_path="{report}",
            retries=1,
            retry_delay=timedelta(seconds=1),
        )
    """
)


def descends_from(pid: int, ancestor: int) -> bool:
    """The pid is a descendant of ``ancestor`` (this test's scheduler): never kill anything else."""
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: the parent's pid
    return False


def test_a_reconciliation_sigkilled_half_way_resumes_on_the_schedulers_retry(tmp_path: Path) -> None:
    dags, report = tmp_path / "dags", tmp_path / "report.jsonl"
    dags.mkdir()
    (dags / "resume_dag.py").write_text(DAG_FILE.format(dag_id=DAG_ID, channel=CHANNEL, count=COUNT, report=report))
    # 150 messages x (GET + PATCH) at 0.08 s / 2 threads: about 25 s, so several progress saves happen before the kill.
    with HubSpotSimulator(rate_limit=None, latency=0.08) as sim:
        for i in range(COUNT):
            sim.add_message(CHANNEL, f"m-{i}", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
        conn = {"conn_type": "hubspot_channels", "host": sim.base_url, "password": sim.access_token}
        extra_env = {"AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT": json.dumps(conn)}
        home = tmp_path / "airflow"
        with airflow_services(home, dags_folder=dags, extra_env=extra_env) as af:
            af.migrate()
            af.start_api_server()
            af.start("dag-processor", "dag-processor")
            af.start("scheduler", "scheduler", "--skip-serve-logs")
            wait_for("the DAG to be parsed", lambda: af.check_alive() or af.api(f"dags/{DAG_ID}"), timeout=120)
            af.airflow("dags", "unpause", DAG_ID)
            run_id = af.api(f"dags/{DAG_ID}/dagRuns", method="POST", body={"logical_date": None})["dag_run_id"]
            ti_path = f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/reconcile"

            def half_patched() -> bool:
                af.check_alive()
                return sum(e.method == "PATCH" for e in sim.request_log) >= COUNT // 2

            wait_for("half the batch to be written", half_patched, timeout=RUNS_TIMEOUT, interval=0.05)
            ti: dict[str, Any] = af.api(ti_path)
            pid = ti["pid"]
            assert ti["try_number"] == 1 and pid and descends_from(pid, af.processes["scheduler"].pid), ti
            os.kill(pid, signal.SIGKILL)
            killed_at = time.time()

            def run_done() -> dict[str, Any] | None:
                af.check_alive()
                run = af.api(f"dags/{DAG_ID}/dagRuns/{run_id}")
                return run if run["state"] in ("success", "failed") else None

            run = wait_for("the retried run to finish", run_done, timeout=RUNS_TIMEOUT, interval=1)
            ti = af.api(ti_path)
            assert (run["state"], ti["try_number"]) == ("success", 2), f"{run} {ti}\n{af.logs()}"

    log = sim.request_log
    before = [e for e in log if e.time < killed_at]
    after = [e for e in log if e.time >= killed_at]
    failed_at_kill = {e.path.rsplit("/", 1)[-1] for e in before if e.method == "PATCH" and e.status == 200}
    retry_reads = [e.path.rsplit("/", 1)[-1] for e in after if e.method == "GET"]
    reread = set(retry_reads) & failed_at_kill
    print(f"killed after {len(failed_at_kill)} PATCHes; the retry sent {len(after)} requests, re-reading {len(reread)}")
    # Without resume the retry reads every message again (>= COUNT // 2 already written). With it: only the rows
    # written after the last save (5 s at ~6 rows/s) and the 2 in flight.
    assert len(reread) <= COUNT // 3
    assert len(after) <= 2 * (COUNT - len(failed_at_kill)) + len(reread) + 2
    for i in range(COUNT):  # every message FAILED, PATCHed exactly once over both tries
        assert [h["statusType"] for h in sim.status_history(CHANNEL, f"m-{i}") if h["source"] == "api"] == ["FAILED"]
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(COUNT)), "the report must list every message exactly once"
    assert {r["outcome"] for r in rows} <= {"marked_failed", "already_correct"}
