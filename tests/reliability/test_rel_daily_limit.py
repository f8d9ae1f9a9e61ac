"""Issue 5.3: a 429 with ``policyName: DAILY`` stops the batch at once, reports what was done, and fails the task
with a message saying the daily limit is reached."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

from ._support import api_writes, context_for, reconcile, settled_log, use_connection

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
DAILY_LIMIT = 40
CONCURRENCY = 4


@pytest.mark.parametrize("verify_status", [True, False])
def test_daily_limit_stops_the_batch_at_once(monkeypatch, tmp_path, verify_status):
    with HubSpotSimulator(seed=3, daily_limit=DAILY_LIMIT, latency=0.005) as sim:
        seed = sim.seed_scenario("reconciliation", 300, now=NOW)
        use_connection(monkeypatch, sim, timeout=2, max_retries=5, max_requests_per_10s=10_000)
        report = tmp_path / "report.jsonl"
        op = reconcile(seed.records, max_concurrency=CONCURRENCY, report_path=str(report), verify_status=verify_status)
        with pytest.raises(AirflowFailException) as info:
            op.execute(context_for(seed))
        log = settled_log(sim)
        text = str(info.value)
        assert "daily request limit is reached" in text and "hubspot_channels_default" in text and "DAILY" in text
        # No further request after the limit: only the requests already in flight when the first DAILY answer
        # came back can also meet it (at most one per worker thread), and none is retried.
        refused = [e for e in log if e.status == 429]
        assert 1 <= len(refused) <= CONCURRENCY, [e.status for e in log]
        assert len(log) == DAILY_LIMIT + len(refused)
        # What was done is reported, row by row: every write HubSpot recorded is in the report as marked_failed,
        # every stale message not written is not_attempted, and the report has one row per record.
        rows = [json.loads(line) for line in report.read_text().splitlines()]
        assert sorted(r["index"] for r in rows) == list(range(len(seed.records)))
        marked = {r["message_id"] for r in rows if r["outcome"] == "marked_failed"}
        written = {r["message_id"] for r in seed.records if api_writes(sim, seed.channel_id, r["message_id"])}
        assert marked == written and marked
        not_attempted = [r for r in rows if r["outcome"] == "not_attempted"]
        assert not_attempted and all("daily request limit" in r["reason"] for r in not_attempted)
        stale_left = set(seed.ids("stale")) - written
        assert stale_left <= {r["message_id"] for r in not_attempted}
        assert not [r for r in rows if r["outcome"] == "error"]


def test_after_a_daily_429_the_client_sends_nothing_more():
    # Worker threads that were between their GET and their PATCH, or in a retry wait, when another thread met the
    # daily limit must not send: the client answers them with the same error without a request.
    from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, HubSpotDailyLimitError

    with HubSpotSimulator(daily_limit=2) as sim:
        sim.add_message(1001, "m-1")
        with HubSpotChannelsClient(config=ClientConfig(base_url=sim.base_url), access_token=sim.access_token) as client:
            client.get_message(1001, "m-1")
            client.get_message(1001, "m-1")
            with pytest.raises(HubSpotDailyLimitError, match="DAILY"):
                client.get_message(1001, "m-1")
            with pytest.raises(HubSpotDailyLimitError, match="not sent"):
                client.update_message_status(1001, "m-1", "FAILED", "x")
        assert len(settled_log(sim, expected=3)) == 3


def test_a_patch_that_landed_before_the_daily_limit_is_not_reported_as_not_attempted(monkeypatch, tmp_path):
    # The PATCH is applied but its answer is lost; its retry meets 429 DAILY. HubSpot shows FAILED, so the row must
    # not say "not attempted" (the store would then treat the message as untouched).
    from airflow_provider_hubspot_channels.simulator import FaultConfig

    faults = FaultConfig(script=("reset_after",), only_methods=frozenset({"PATCH"}))
    with HubSpotSimulator(daily_limit=1, faults=faults) as sim:
        sim.add_message(1001, "m-1", created_at="2026-11-24T10:00:00Z")
        use_connection(monkeypatch, sim, timeout=2)
        report = tmp_path / "report.jsonl"
        records = [{"channel_id": 1001, "message_id": "m-1", "created_at": "2026-11-24T10:00:00Z"}]
        with pytest.raises(AirflowFailException, match="daily request limit"):
            reconcile(records, report_path=str(report), verify_status=False).execute(
                {"data_interval_end": NOW, "logical_date": NOW}
            )
        assert sim.get_message(1001, "m-1")["status"]["statusType"] == "FAILED"
    (row,) = [json.loads(line) for line in report.read_text().splitlines()]
    assert row["outcome"] == "error" and "may show FAILED" in row["reason"] and row["attempts"] == 2
