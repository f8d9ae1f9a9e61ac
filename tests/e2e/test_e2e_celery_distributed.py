"""A real distributed run: Airflow's CeleryExecutor with Redis as broker, PostgreSQL as metadata database and result
backend (both from Debian's packages, started by the test on 127.0.0.1), the scheduler, the DAG processor, the API
server, and two Celery workers. One ReconcileMessagesOperator per batch, mapped over 20 batches, against the bundled
simulator in the test process.

Every mapped task must succeed, both workers must have run some (the task instances' hostname names the worker),
HubSpot (the simulator) must show exactly the expected writes, and no account may have received more than its limit
in any rolling 10 s window, nor any 429.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.e2e._airflow import airflow_services, wait_for
from tests.e2e._services import celery_env, celery_worker_ready, start_celery_worker, start_postgres, start_redis
from tests.rate_windows import busiest_windows, limit_breaches, refused_by_account

DAG_ID = "e2e_celery_mapped_reconcile"
DAGS = Path(__file__).resolve().parent / "celery_dags"
CHANNEL = 1001
BATCHES = 20
PER_BATCH = 5
WORKERS = ("w1", "w2")
CONCURRENCY = int(os.environ.get("HUBSPOT_E2E_CELERY_CONCURRENCY", "4"))
LIMIT = 110  # HubSpot's OAuth apps: requests per rolling 10 s per account
RUN_TIMEOUT = float(os.environ.get("HUBSPOT_E2E_RUNS_TIMEOUT", "360"))

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def seed(sim: HubSpotSimulator) -> list[list[dict[str, Any]]]:
    """20 batches of 5 messages sent an hour ago; every fifth has its delivery receipt, the rest are stale."""
    created = datetime.now(timezone.utc) - timedelta(hours=1)
    batches = []
    for b in range(BATCHES):
        batch = []
        for i in range(PER_BATCH):
            message_id = f"celery-{b:02d}-{i}"
            sim.add_message(CHANNEL, message_id, created_at=created, status_type="SENT")
            batch.append(
                {
                    "channel_id": CHANNEL,
                    "message_id": message_id,
                    "created_at": created.isoformat(),
                    "delivery_status": "delivered" if i == PER_BATCH - 1 else "pending",
                }
            )
        batches.append(batch)
    return batches


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_mapped_reconcile_runs_on_two_celery_workers(tmp_path: Path) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}
    reports = tmp_path / "reports"
    with HubSpotSimulator(rate_limit=LIMIT) as sim:
        batches = seed(sim)
        conn = {
            "conn_type": "hubspot_channels",
            "host": sim.base_url,
            "password": sim.access_token,
            "extra": {"channel_id": CHANNEL, "max_retries": 1},
        }
        env = {"AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT": json.dumps(conn), "HUBSPOT_CHANNELS_REPORTS": str(reports)}
        with airflow_services(tmp_path / "airflow", dags_folder=DAGS, extra_env=env) as af:
            broker = start_redis(af)
            postgres = start_postgres(af)
            af.extra_env = {**env, **celery_env(broker, postgres, parallelism=2 * len(WORKERS) * CONCURRENCY)}
            timings["redis + postgres ready"] = time.monotonic() - started
            af.migrate()
            timings["db migrated"] = time.monotonic() - started
            # Everything starts at once and is waited for together: on 2 cores, start-up is most of the wall time.
            for name in WORKERS:
                start_celery_worker(af, name, concurrency=CONCURRENCY)
            af.start("dag-processor", "dag-processor")
            af.start("scheduler", "scheduler", "--skip-serve-logs")
            af.start_api_server()
            for name in WORKERS:
                celery_worker_ready(af, name)
            timings["all services ready"] = time.monotonic() - started

            def dag_parsed() -> bool:
                af.check_alive()
                return af.api(f"dags/{DAG_ID}") is not None

            wait_for("the DAG processor to parse the DAG", dag_parsed, timeout=120, interval=1)
            af.airflow("dags", "unpause", DAG_ID)
            run_id = "e2e-celery"
            triggered = time.monotonic()
            af.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps({"batches": batches}))

            def run_done() -> dict[str, Any] | None:
                af.check_alive()
                run = af.api(f"dags/{DAG_ID}/dagRuns/{run_id}")
                return run if run and run["state"] in ("success", "failed") else None

            run = wait_for("the mapped run to finish", run_done, timeout=RUN_TIMEOUT, interval=2)
            timings["DAG run"] = time.monotonic() - triggered
            tis = af.api(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
            assert run["state"] == "success", (
                f"run {run['state']}: {[(t['task_id'], t['map_index'], t['state']) for t in tis]}"
            )
        log = sim.request_log
    # Nothing the test started outlives it: every process group (Airflow's, Redis's, PostgreSQL's) is gone.
    assert [name for name, proc in af.processes.items() if group_exists(proc.pid)] == []
    timings["total"] = time.monotonic() - started
    print(
        "timings (s since the test started; DAG run from trigger to end):", {k: round(v, 1) for k, v in timings.items()}
    )

    mapped = sorted((t for t in tis if t["task_id"] == "reconcile"), key=lambda t: t["map_index"])
    assert [t["map_index"] for t in mapped] == list(range(BATCHES))
    assert {t["state"] for t in mapped} == {"success"}, [(t["map_index"], t["state"]) for t in mapped]
    ran_on = Counter(t["hostname"].split("@", 1)[0] for t in mapped)
    print("mapped tasks per worker:", dict(ran_on))
    assert set(ran_on) == set(WORKERS), f"not every worker ran tasks (task instances' hostnames): {dict(ran_on)}"

    # HubSpot's side: each stale message marked FAILED exactly once, every delivered one untouched.
    for batch in batches:
        for record in batch:
            mid = record["message_id"]
            changes = [
                (h["statusType"], h["accepted"]) for h in sim.status_history(CHANNEL, mid) if h["source"] == "api"
            ]
            assert changes == ([("FAILED", True)] if record["delivery_status"] == "pending" else []), (mid, changes)
    patches = [e for e in log if e.method == "PATCH"]
    assert len(patches) == BATCHES * (PER_BATCH - 1)
    for b in range(BATCHES):
        rows = [json.loads(line) for line in (reports / run_id / f"{b}.jsonl").read_text().splitlines()]
        assert Counter(r["outcome"] for r in rows) == {"marked_failed": PER_BATCH - 1, "already_correct": 1}, rows

    busiest = busiest_windows(log)
    print("busiest 10 s window per account:", {k: w.requests for k, w in busiest.items()})
    assert limit_breaches(log, limit=LIMIT) == []
    assert refused_by_account(log) == {}
