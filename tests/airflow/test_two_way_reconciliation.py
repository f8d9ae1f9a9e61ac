"""Issue 13's "done when": a held-out batch with every two-way case ends with HubSpot equal to the record.

Through a real ``dag.test()`` of the scheduled example (store in, store written back) and through the operator under
5xx, 429 and reset faults: every message shows what the integrator knows, no READ is overwritten, no INCOMING
message is touched, and no message is written twice without faults.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
from airflow_provider_hubspot_channels.sqlite_store import insert_records, load_unreconciled
from tests.airflow.test_example_dags import get_dag, task_states
from tests.conftest import connection_json

pytestmark = pytest.mark.airflow

END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)


def shown(sim: HubSpotSimulator, channel_id: int, message_id: str) -> str | None:
    message = sim.get_message(channel_id, message_id)
    return ((message or {}).get("status") or {}).get("statusType")


def api_writes(sim: HubSpotSimulator, channel_id: int, message_id: str) -> list[dict[str, Any]]:
    if sim.get_message(channel_id, message_id) is None:  # unknown to HubSpot: nothing can have been written
        return []
    return [h for h in sim.status_history(channel_id, message_id) if h["source"] == "api"]


def assert_converged(sim: HubSpotSimulator, seed: Any, before: dict[str, str | None]) -> None:
    for message_id, expected in seed.expected_status.items():
        case = seed.expected[message_id]
        assert shown(sim, seed.channel_id, message_id) == expected, (case, message_id)
        writes = api_writes(sim, seed.channel_id, message_id)
        if before[message_id] == "READ":
            assert all(h["statusType"] == "READ" for h in sim.status_history(seed.channel_id, message_id)), message_id
        if case == "incoming":
            assert writes == [], message_id


def test_the_scheduled_dag_makes_hubspot_agree_with_every_record(airflow_db, fresh_store_path, monkeypatch):
    with HubSpotSimulator(seed=13, rate_limit=None) as sim:
        seed = sim.seed_scenario("two_way", 160, now=END)
        insert_records(fresh_store_path, seed.records)
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, channel_id=seed.channel_id),
        )
        before = {m: shown(sim, seed.channel_id, m) for m in seed.expected_status}
        dag = get_dag("example_hubspot_reconcile_messages")
        dag_run = dag.test(logical_date=END, run_conf={"stale_after_minutes": seed.sla_seconds // 60})
        assert dag_run.state == "success", task_states(dag_run)
        assert_converged(sim, seed, before)
        # No message written twice without faults.
        assert all(len(api_writes(sim, seed.channel_id, m)) <= 1 for m in seed.expected_status)
        report = next(Path(os.environ["HUBSPOT_CHANNELS_REPORTS"]).rglob(f"*{dag_run.run_id.replace(':', '_')}*"))
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        outcomes = {row["message_id"]: row["outcome"] for row in rows}
        wrong = {m: (o, seed.expected_outcome[m]) for m, o in outcomes.items() if o != seed.expected_outcome[m]}
        assert not wrong
        assert Counter(outcomes.values())["corrected_to_sent"] > 0  # late receipts corrected a false FAILED
        # Already reported rows were not even loaded; after the write-back only the fresh ones are left.
        left = {row["message_id"] for row in load_unreconciled(fresh_store_path, created_at_or_before=END)}
        assert left == set(seed.ids("fresh"))


@pytest.fixture
def fresh_store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = os.environ["HUBSPOT_CHANNELS_STORE"]
    if os.path.exists(path):
        os.remove(path)
    return path


@pytest.mark.parametrize("verify_by_thread", [True, False])
def test_the_same_under_5xx_429_and_resets(monkeypatch, tmp_path, verify_by_thread):
    faults = FaultConfig(p_503=0.05, p_429=0.03, p_reset=0.02, p_reset_after=0.02, html_share=0.5, retry_after=0)
    # A rate limit far above the run: its headers let the budget recover from the injected 429s, as from real ones.
    with HubSpotSimulator(seed=7, rate_limit=5000) as sim:
        seed = sim.seed_scenario("two_way", 80, now=END)
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, timeout=2, max_retries=8),
        )
        before = {m: shown(sim, seed.channel_id, m) for m in seed.expected_status}
        sim.set_faults(faults)
        report = tmp_path / "report.jsonl"
        op = ReconcileMessagesOperator(
            task_id="reconcile",
            messages=seed.records,
            stale_after=timedelta(seconds=seed.sla_seconds),
            verify_by_thread=verify_by_thread,
            report_path=str(report),
            max_concurrency=8,
        )
        summary = op.execute({"data_interval_end": END})
        sim.set_faults(None)
        assert sum(sim.faults_injected.values()) >= 3  # the faults did happen
        assert_converged(sim, seed, before)
        rows = {row["message_id"]: row for row in map(json.loads, report.read_text().splitlines())}
        assert summary["counts"]["error"] == 0
        for message_id, row in rows.items():
            assert row["outcome"] == seed.expected_outcome[message_id] or (
                # a write whose answer was lost is retried; HubSpot then already shows it on the retry's GET
                row["outcome"] == "already_correct"
            ), (message_id, row)
            if len(api_writes(sim, seed.channel_id, message_id)) > 1:
                assert "twice" in row["reason"], row  # a repeated write is always flagged
