"""Issue 12's "done when": a batch mixing good rows with every odd row found by the review writes every good row,
gives each record exactly one report row, and ends the task as documented (non-retryable for invalid input)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_hubspot_channels.operators.errors import AirflowException, AirflowFailException
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

from ._support import reconcile, use_connection

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
SENT = "2026-11-24T10:00:00Z"

#: Rows that broke a layer before issue 12 (each must end as that row's own `invalid` outcome).
ODD_ROWS = [
    {"channel_id": 1001, "message_id": "odd-year-1", "created_at": "0001-01-01T00:00:00+01:00"},
    {"channel_id": 1001, "message_id": "odd-year-9999", "created_at": "9999-12-31T23:59:59-05:00"},
    {"channel_id": 1001, "message_id": "odd-\ud83d", "created_at": SENT},
    {"channel_id": "²", "message_id": "odd-superscript", "created_at": SENT},
    {"channel_id": 1001, "message_id": "odd-huge", "created_at": 10**5000},
    {"channel_id": 1001, "mesage_id": "odd-misspelt", "created_at": SENT},
    {"channel_id": 1001, "message_id": "odd-satus", "created_at": SENT, "delivery_satus": "delivered"},
    {
        "channel_id": 1001,
        "message_id": "odd-both",
        "created_at": SENT,
        "DeliveryStatus": "read",
        "delivery_status": "pending",
    },
    {"channel_id": 1001.5, "message_id": "odd-fraction", "created_at": SENT},
]
#: Rows that look odd but are good (each must be written, or settled, as usual).
GOOD_ROWS = [
    {"channel_id": 1001, "message_id": "good-1", "created_at": SENT, "recipient": "half \ud83d emoji"},
    {"channel_id": 1001.0, "message_id": "good-float-channel", "created_at": SENT},
    {"channel_id": 1001, "message_id": "good-2", "created_at": SENT, "carrier_error": "\udc00 carrier"},
    {"channel_id": 1001, "message_id": "good-read", "created_at": SENT, "DELIVERY_STATUS": "read"},
    {"channel_id": 1001, "message_id": "good-delivered", "created_at": SENT, "Delivery Status": "delivered"},
]


@pytest.mark.parametrize("dry_run", [False, True])
def test_every_good_row_is_handled_and_every_odd_row_is_one_invalid_row(monkeypatch, tmp_path, dry_run):
    with HubSpotSimulator() as sim:
        for row in GOOD_ROWS:
            sim.add_message(1001, row["message_id"], created_at=SENT)
        use_connection(monkeypatch, sim, timeout=2)
        batch = [*ODD_ROWS[:4], *GOOD_ROWS, *ODD_ROWS[4:]]
        report = tmp_path / "report.jsonl"
        with pytest.raises(AirflowException) as info:
            reconcile(batch, report_path=str(report), dry_run=dry_run).execute({"data_interval_end": NOW})
        stale = ("good-1", "good-float-channel", "good-2")
        statuses = {m: (sim.get_message(1001, m).get("status") or {}).get("statusType") for m in stale}
        settled = {m: sim.get_message(1001, m).get("status") for m in ("good-read", "good-delivered")}
    assert isinstance(info.value, AirflowFailException)  # invalid input: retrying cannot fix it
    assert f"{len(ODD_ROWS)} records were invalid" in str(info.value)
    rows = [json.loads(line) for line in report.read_bytes().decode("utf-8").splitlines()]
    assert sorted(row["index"] for row in rows) == list(range(len(batch)))  # one row per record
    by_index = {row["index"]: row for row in rows}
    for index, record in enumerate(batch):
        expected_invalid = record in ODD_ROWS
        assert (by_index[index]["outcome"] == "invalid") is expected_invalid, (index, by_index[index])
    assert statuses == dict.fromkeys(stale, None if dry_run else "FAILED")
    assert settled == {"good-read": None, "good-delivered": None}  # receipts under odd spellings were read
    outcomes = {row["message_id"]: row["outcome"] for row in rows if row["message_id"] in stale}
    assert set(outcomes.values()) == {"would_mark_failed" if dry_run else "marked_failed"}
