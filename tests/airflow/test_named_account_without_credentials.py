"""A task without per-account credentials has only its connection's token: a row naming another HubSpot account must
not be written with it (it would change the connection's account's message of the same id). Found by review: the
row naming portal 702 set account 701's m1 to FAILED."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

pytestmark = pytest.mark.airflow
END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONTEXT = {"data_interval_start": END - timedelta(minutes=15), "data_interval_end": END, "logical_date": END}


def test_a_row_naming_an_account_is_refused_without_per_account_credentials(monkeypatch, tmp_path) -> None:
    with HubSpotSimulator(hub_id=701, rate_limit=None, access_token="token-701") as sim:
        other = sim.add_account(702)
        created = (END - timedelta(hours=1)).isoformat()
        sim.add_message(1001, "m1", created_at=created)
        sim.add_message(1001, "m2", created_at=created)
        other.add_message(1001, "m1", created_at=created)
        conn = {"conn_type": "hubspot_channels", "host": sim.base_url, "password": "token-701"}
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", json.dumps(conn))
        rows = [
            {"portal_id": "702", "channel_id": 1001, "message_id": "m1", "created_at": created},
            {"channel_id": 1001, "message_id": "m2", "created_at": created},  # the connection's own account
        ]
        report = tmp_path / "r.jsonl"
        task = ReconcileMessagesOperator(
            task_id="r", stale_after=timedelta(minutes=15), messages=rows, report_path=str(report)
        )
        with pytest.raises(AirflowFailException, match="invalid"):
            task.execute(CONTEXT)
        assert "status" not in sim.get_message(1001, "m1")  # account 701's m1 untouched
        assert "status" not in other.get_message(1001, "m1")
        assert sim.get_message(1001, "m2")["status"]["statusType"] == "FAILED"  # the rest was processed
        by_index = {row["index"]: row for row in map(json.loads, report.read_text().splitlines())}
        assert by_index[0]["outcome"] == "invalid" and "account_conn_pattern" in by_index[0]["reason"]
        assert by_index[0]["portal_id"] == "702"
        assert not any("/m1" in entry.path for entry in sim.request_log)
