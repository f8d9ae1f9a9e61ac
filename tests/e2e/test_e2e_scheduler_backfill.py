"""The backfill example DAG under Airflow's real services: API server, scheduler, DAG processor, SQLite.

``airflow backfill create`` over three hourly intervals; every run must succeed and reconcile exactly the messages
whose SLA deadline (``created_at`` + 15 min) falls inside its own data interval ``(start, end]``: nothing twice,
nothing outside the backfilled span, delivered messages never, messages already READ in HubSpot never overwritten.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.sqlite_store import insert_records
from tests.e2e._airflow import airflow_services, wait_for

DAG_ID = "example_hubspot_backfill_reconcile"
CHANNEL = 1001
SLA = timedelta(minutes=15)
INTERVALS = 3
RUNS_TIMEOUT = float(os.environ.get("HUBSPOT_E2E_RUNS_TIMEOUT", "360"))

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def seed(sim: HubSpotSimulator, store: Path, first: datetime, last: datetime) -> dict[str, dict[str, Any]]:
    """Messages every 10 minutes from ``first`` to ``last`` plus one on each hour's SLA boundary, in HubSpot and
    in the integrator's store. Every seventh is delivered (the store knows), every fifth is already READ in HubSpot
    (the store does not know)."""
    moments: set[datetime] = set()
    t = first
    while t <= last:
        moments.add(t)
        moments.add(t.replace(minute=0) - SLA)  # deadline exactly on the hour: belongs to the interval ending there
        moments.add(t.replace(minute=0) - SLA + timedelta(microseconds=1))  # ... and just after: the next one
        t += timedelta(minutes=10)
    messages: dict[str, dict[str, Any]] = {}
    for i, created in enumerate(sorted(moments)):
        message_id = f"e2e-{created:%Y%m%dT%H%M%S%f}"
        read = i % 5 == 3
        delivered = i % 7 == 5
        sim.add_message(CHANNEL, message_id, created_at=created, status_type="READ" if read else "SENT")
        messages[message_id] = {
            "channel_id": CHANNEL,
            "message_id": message_id,
            "created_at": _iso(created),
            "delivery_status": "delivered" if delivered else "pending",
            "read_in_hubspot": read,
        }
    insert_records(store, [{k: v for k, v in m.items() if k != "read_in_hubspot"} for m in messages.values()])
    return messages


def rows_by(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return counts


def test_backfill_reconciles_each_interval_exactly_once(tmp_path: Path) -> None:
    started = time.monotonic()
    now = datetime.now(timezone.utc)
    hour = now.replace(minute=0, second=0, microsecond=0)
    # Backfill well in the past, away from whatever the scheduler itself might schedule now.
    from_date, to_date = hour - timedelta(hours=6), hour - timedelta(hours=6 - (INTERVALS - 1))
    store = tmp_path / "store" / "integrator_store.sqlite"
    reports = tmp_path / "reports"

    with HubSpotSimulator(rate_limit=None) as sim:
        messages = seed(sim, store, hour - timedelta(hours=9), hour - timedelta(hours=1))
        pending = sum(m["delivery_status"] == "pending" for m in messages.values())
        print(f"seeded {len(messages)} messages, {pending} of them pending in the store")
        conn = {
            "conn_type": "hubspot_channels",
            "host": sim.base_url,
            "password": sim.access_token,
            "extra": {"channel_id": CHANNEL, "max_retries": 1},
        }
        extra_env = {
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT": json.dumps(conn),
            "HUBSPOT_CHANNELS_STORE": str(store),
            "HUBSPOT_CHANNELS_REPORTS": str(reports),
        }
        with airflow_services(tmp_path / "airflow", extra_env=extra_env) as af:
            af.migrate()
            # The backfill is created before the scheduler and the DAG processor start: SQLite refuses a write at
            # once when another process writes, and `backfill create` commits run by run, so a refusal midway left
            # two of three runs (seen on 3.1.8 with the scheduler starting the latest interval at the same moment).
            af.airflow("dags", "reserialize")
            af.start_api_server()

            def dag_parsed() -> bool:
                af.check_alive()
                return af.api(f"dags/{DAG_ID}") is not None

            wait_for("the API server to show the serialized DAG", dag_parsed, timeout=120, interval=1)
            af.airflow("dags", "unpause", DAG_ID)
            created = af.airflow(
                "backfill", "create", "--dag-id", DAG_ID, "--from-date", _iso(from_date), "--to-date", _iso(to_date)
            )
            queued = [r for r in af.api(f"dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"] if r["run_type"] == "backfill"]
            assert len(queued) == INTERVALS, (
                f"backfill create made {len(queued)} runs, not {INTERVALS}:\n{created.stdout[-3000:]}\n"
                f"{created.stderr[-3000:]}"
            )
            af.start("dag-processor", "dag-processor")
            af.start("scheduler", "scheduler", "--skip-serve-logs")

            def all_runs_done() -> list[dict[str, Any]] | None:
                # Unpausing also makes the scheduler run the latest interval (catchup=False): wait for it too.
                af.check_alive()
                runs = af.api(f"dags/{DAG_ID}/dagRuns?limit=100")["dag_runs"]
                backfill = [r for r in runs if r["run_type"] == "backfill"]
                if len(backfill) >= INTERVALS and all(r["state"] in ("success", "failed") for r in runs):
                    return list(runs)
                return None

            runs = wait_for("the backfill runs to finish", all_runs_done, timeout=RUNS_TIMEOUT, interval=2)
            elapsed = time.monotonic() - started
            print(f"{len(runs)} runs finished {elapsed:.0f} s after the test started")
            states = {r["dag_run_id"]: (r["run_type"], r["state"]) for r in runs}
            assert {state for _, state in states.values()} == {"success"}, f"runs failed: {states}\n{af.logs()}"

    backfill = sorted(
        (_parse(r["data_interval_start"]), _parse(r["data_interval_end"]), r["dag_run_id"])
        for r in runs
        if r["run_type"] == "backfill"
    )
    assert len(backfill) == INTERVALS, states
    assert backfill[0][0] == from_date, f"the first backfilled interval does not start at --from-date: {backfill}"
    for (_, end, _), (start, _, _) in itertools.pairwise(backfill):
        assert end == start, f"backfill intervals are not contiguous: {backfill}"
    others = [r for r in runs if r["run_type"] != "backfill"]
    assert all(r["run_type"] == "scheduled" for r in others), states
    assert len(others) <= 2, f"the scheduler ran more than the latest interval: {states}"

    touched: dict[str, str] = {}
    for run in runs:
        start, end, run_id = _parse(run["data_interval_start"]), _parse(run["data_interval_end"]), run["dag_run_id"]
        assert end - start == timedelta(hours=1), f"run {run_id} has the interval ({start}, {end}], not one hour"
        in_window = {m["message_id"]: m for m in messages.values() if start < _parse(m["created_at"]) + SLA <= end}
        if run["run_type"] == "backfill":
            assert in_window, f"the seed left the interval ({start}, {end}] empty: the test would prove nothing"
        report = reports / DAG_ID / (run_id.replace(":", "_") + ".jsonl")
        assert report.exists(), f"no report for run {run_id}: {sorted(p.name for p in reports.rglob('*'))}"
        rows = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
        outcomes = {row["message_id"]: row["outcome"] for row in rows}
        assert len(outcomes) == len(rows), f"run {run_id} reported a message twice"
        # Two-way: a delivered record is checked too (HubSpot's SENT already agrees), READ is never changed.
        expected = {
            mid: "skipped_read_in_hubspot"
            if m["read_in_hubspot"]
            else ("marked_failed" if m["delivery_status"] == "pending" else "already_correct")
            for mid, m in in_window.items()
        }
        assert outcomes == expected, f"run {run_id} for ({start}, {end}] reconciled the wrong messages"
        print(f"{run['run_type']:>9} run ({start:%H:%M}, {end:%H:%M}]: {len(rows)} messages, {rows_by(rows)}")
        for mid in outcomes:
            assert mid not in touched, f"{mid} handled by both {touched[mid]} and {run_id}"
            touched[mid] = run_id
    untouched = [m for m in messages.values() if m["message_id"] not in touched and m["delivery_status"] == "pending"]
    assert untouched, "every pending message was in some interval: the test would not see a run overreach"

    # HubSpot's side: one accepted FAILED for each message marked failed, nothing at all for every other message.
    for mid, m in messages.items():
        api_changes = [h for h in sim.status_history(CHANNEL, mid) if h["source"] == "api"]
        if touched.get(mid) and not m["read_in_hubspot"] and m["delivery_status"] == "pending":
            assert [(h["statusType"], h["accepted"]) for h in api_changes] == [("FAILED", True)], (mid, api_changes)
            assert sim.get_message(CHANNEL, mid)["status"]["statusType"] == "FAILED"
        else:
            assert api_changes == [], f"{mid} ({m}) is outside every interval or settled, yet was changed"
    patches = [e for e in sim.request_log if e.method == "PATCH"]
    written = [
        mid for mid in touched if not messages[mid]["read_in_hubspot"] and messages[mid]["delivery_status"] == "pending"
    ]
    assert len(patches) == len(written)
