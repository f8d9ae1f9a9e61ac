"""A real distributed run of many HubSpot accounts: Airflow's CeleryExecutor with Redis as broker, PostgreSQL as
metadata database and result backend (both from Debian's packages, started by the test on 127.0.0.1), the scheduler,
the DAG processor, the API server, and two Celery workers.

One simulator hosts 20 accounts (110 requests per 10 s each, 50 ms latency), each seeded with the ``two_way``
scenario. The integrator's store holds every account's records; the example DAG ``example_hubspot_multi_account``,
unchanged, loads it, splits it by account (``split_batch_by_account``) and maps one ``ReconcileMessagesOperator``
per group over both workers. Each account's credentials are its own Airflow connection
(``hubspot_channels_<portal_id>``, OAuth refresh with the app's client id and secret and that installation's refresh
token), so every token comes from the token endpoint and its ``hub_id`` is checked against the account.

Every account must end exactly as the scenario expects, both workers must have run mapped tasks, no account may have
received more than its limit in any rolling 10 s window nor any 429, and every request naming a message must carry a
token of the account owning it (the only 404s are the messages the scenario made unknown to HubSpot).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.scenarios import ScenarioSeed
from airflow_provider_hubspot_channels.sqlite_store import insert_records
from tests.e2e._airflow import EXAMPLE_DAGS, AirflowServices, airflow_services, wait_for
from tests.e2e._services import celery_env, celery_worker_ready, start_celery_worker, start_postgres, start_redis
from tests.rate_windows import busiest_windows, limit_breaches, message_named, misdirected, refused_by_account

DAG_ID = "example_hubspot_multi_account"
CHANNEL = 1001
ACCOUNTS = 20
# About 155 requests per account (a GET for most loaded records, a PATCH for each disagreement): more than one window's
# limit, so each account's pacing is exercised, not only its burst.
PER_ACCOUNT = 200
GROUPS = 8  # mapped tasks: as many as the two workers have slots, so both must take some
WORKERS = ("w1", "w2")
CONCURRENCY = int(os.environ.get("HUBSPOT_E2E_CELERY_CONCURRENCY", "4"))
LIMIT = 110  # HubSpot's OAuth apps: requests per rolling 10 s per account
LATENCY = 0.05
# The scenario's SLA is 10 min, its fresh records are at most 9 min old when seeded and its stale ones at least 15:
# 14 min gives the run five minutes (a loaded CI machine) before a fresh record would turn stale.
STALE_AFTER_MINUTES = 14
RUN_TIMEOUT = float(os.environ.get("HUBSPOT_E2E_RUNS_TIMEOUT", "300"))

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def account_connections(sim: HubSpotSimulator) -> dict[str, str]:
    """One ``hubspot_channels_<portal_id>`` connection per account, as ``AIRFLOW_CONN_*`` variables: OAuth refresh."""
    env = {}
    for account in sim.accounts():
        extra = {"client_id": sim.client_id, "client_secret": sim.client_secret, "refresh_token": account.refresh_token}
        conn = {"conn_type": "hubspot_channels", "host": sim.base_url, "extra": extra}
        env[f"AIRFLOW_CONN_HUBSPOT_CHANNELS_{account.hub_id}"] = json.dumps(conn)
    return env


def seed(sim: HubSpotSimulator, store: Path) -> dict[str, ScenarioSeed]:
    """Seed ``two_way`` into every account (its own ids) and the integrator's store; the seeds by portal id."""
    now = datetime.now(timezone.utc)
    seeds = {
        str(account.hub_id): account.seed_scenario("two_way", PER_ACCOUNT, now=now, seed=n)
        for n, account in enumerate(sim.accounts())
    }
    insert_records(store, [record for s in seeds.values() for record in s.records])
    return seeds


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def start_cluster(af: AirflowServices, env: dict[str, str]) -> None:
    """Redis, PostgreSQL, the metadata DB, two workers, the DAG processor, the scheduler and the API server."""
    broker = start_redis(af)
    postgres = start_postgres(af)
    af.extra_env = {**env, **celery_env(broker, postgres, parallelism=2 * len(WORKERS) * CONCURRENCY)}
    af.migrate()
    # Everything starts at once and is waited for together: on 2 cores, start-up is most of the wall time.
    for name in WORKERS:
        start_celery_worker(af, name, concurrency=CONCURRENCY)
    af.start("dag-processor", "dag-processor")
    af.start("scheduler", "scheduler", "--skip-serve-logs")
    af.start_api_server()
    for name in WORKERS:
        celery_worker_ready(af, name)


def test_many_accounts_reconcile_on_two_celery_workers(tmp_path: Path) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}
    store, reports, dags = tmp_path / "store.sqlite", tmp_path / "reports", tmp_path / "dags"
    # The example DAG as shipped, alone in the DAGs folder (the other examples would only slow the DAG processor).
    dags.mkdir()
    shutil.copy(EXAMPLE_DAGS / f"{DAG_ID}.py", dags)
    with HubSpotSimulator(rate_limit=LIMIT, latency=LATENCY) as sim:
        while len(sim.accounts()) < ACCOUNTS:
            sim.add_account()
        env = {
            **account_connections(sim),
            "HUBSPOT_CHANNELS_STORE": str(store),
            "HUBSPOT_CHANNELS_REPORTS": str(reports),
            # The DAG runs every 15 min: unpausing it must not start a scheduled run besides the test's own.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        }
        with airflow_services(tmp_path / "airflow", dags_folder=dags, extra_env=env) as af:
            start_cluster(af, env)
            timings["all services ready"] = time.monotonic() - started

            def dag_parsed() -> bool:
                af.check_alive()
                return af.api(f"dags/{DAG_ID}") is not None

            wait_for("the DAG processor to parse the DAG", dag_parsed, timeout=120, interval=1)
            af.airflow("dags", "unpause", DAG_ID)
            # Seeded last: the scenario's ages are relative to now, and fresh records must stay fresh through the run.
            seeds = seed(sim, store)
            run_id = "e2e-celery"
            triggered = time.monotonic()
            conf = {"stale_after_minutes": STALE_AFTER_MINUTES, "groups": GROUPS}
            logical_date = datetime.now(timezone.utc).isoformat()
            trigger = ("--run-id", run_id, "--logical-date", logical_date, "--conf", json.dumps(conf))
            af.airflow("dags", "trigger", DAG_ID, *trigger)

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
        final = {
            portal: {r["message_id"]: sim.account(int(portal)).get_message(CHANNEL, r["message_id"]) for r in s.records}
            for portal, s in seeds.items()
        }
    # Nothing the test started outlives it: every process group (Airflow's, Redis's, PostgreSQL's) is gone.
    assert [name for name, proc in af.processes.items() if group_exists(proc.pid)] == []
    timings["total"] = time.monotonic() - started
    print(
        "timings (s since the test started; DAG run from trigger to end):", {k: round(v, 1) for k, v in timings.items()}
    )

    assert {t["state"] for t in tis} == {"success"}, [(t["task_id"], t["map_index"], t["state"]) for t in tis]
    mapped = [t for t in tis if t["task_id"] == "reconcile"]
    assert sorted(t["map_index"] for t in mapped) == list(range(GROUPS))
    ran_on = Counter(t["hostname"].split("@", 1)[0] for t in mapped)
    print("mapped tasks per worker:", dict(ran_on))
    assert set(ran_on) == set(WORKERS), f"not every worker ran mapped tasks (task instances' hostnames): {dict(ran_on)}"

    # Every account ends exactly as the scenario says a correct two-way reconciler leaves it.
    for portal, s in seeds.items():
        shown = {mid: ((m or {}).get("status") or {}).get("statusType") for mid, m in final[portal].items()}
        wrong = {mid: (shown[mid], want) for mid, want in s.expected_status.items() if shown[mid] != want}
        assert wrong == {}, f"account {portal}: (HubSpot shows, expected) by message: {wrong}"
    # And says so in the reports: each loaded record once, with the scenario's outcome (settled rows are not loaded).
    lines = [line for path in sorted(reports.rglob("group_*.jsonl")) for line in path.read_text().splitlines()]
    rows = [json.loads(line) for line in lines]
    reported = Counter((r["portal_id"], r["message_id"], r["outcome"]) for r in rows)
    expected = Counter(
        (portal, mid, outcome)
        for portal, s in seeds.items()
        for mid, outcome in s.expected_outcome.items()
        if outcome != "already_reported"
    )
    assert reported == expected, {"unexpected": reported - expected, "missing": expected - reported}

    # No token reached another account's message; the only 404s are the messages HubSpot does not know.
    owners = {r["message_id"]: portal for portal, s in seeds.items() for r in s.records}
    assert misdirected(log, owners) == []
    unknown = {mid for s in seeds.values() for mid, case in s.expected.items() if case == "not_found"}
    assert {message_named(e) for e in log if e.status == 404} == unknown
    api = [e for e in log if not e.path.startswith(("/oauth/", "/_simulator"))]
    assert Counter(e.status for e in api if e.status not in (200, 404)) == Counter()
    assert {str(e.hub_id) for e in api} == set(seeds), "every account was served through its own token"

    busiest = busiest_windows(log)
    print("busiest 10 s window per account:", sorted(w.requests for w in busiest.values()))
    per_account = Counter(str(e.hub_id) for e in api)
    print("requests per account:", sorted(per_account.values()))
    # Otherwise the window check below could not fail: each account must have needed more than one window's budget.
    assert min(per_account.values()) > LIMIT, per_account
    assert limit_breaches(log, limit=LIMIT) == []
    assert refused_by_account(log) == {}
