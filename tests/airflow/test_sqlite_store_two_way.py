"""The reference store in two-way mode: what HubSpot was told, what still disagrees, a write-back losing no receipt."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.sqlite_store import (
    connect,
    insert_records,
    load_pending,
    load_unreconciled,
    record_outcomes,
    record_receipt,
)

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)
UNTIL = T0 + timedelta(hours=1)


def webhook(message_id: str, **extra: Any) -> dict[str, Any]:
    return {"channel_id": 1001, "message_id": message_id, "created_at": T0, **extra}


def report_row(message_id: str, outcome: str, after: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"channel_id": 1001, "message_id": message_id, "outcome": outcome, "hubspot_status_after": after, **extra}


def write_report(store: Path, rows: list[dict[str, Any]]) -> Path:
    report = store.parent / "report.jsonl"
    report.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return report


def stored(store: Path) -> dict[str, dict[str, Any]]:
    with closing(connect(store)) as db:
        return {r["message_id"]: dict(r) for r in db.execute("SELECT * FROM outgoing_messages")}


def loaded(store: Path) -> dict[str, dict[str, Any]]:
    return {r["message_id"]: r for r in load_unreconciled(store, created_at_or_before=UNTIL)}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store" / "integrator.sqlite"


def test_load_unreconciled_returns_exactly_the_rows_whose_target_disagrees(store: Path) -> None:
    cases = {
        # delivery_status, reported_status -> loaded?
        "pending-new": ("pending", None, True),
        "pending-sent": ("pending", "SENT", True),
        "pending-failed": ("pending", "failed", False),  # any case
        "delivered-new": ("delivered", None, True),
        "delivered-failed": ("delivered", "FAILED", True),  # a late receipt after a FAILED
        "delivered-sent": ("delivered", "SENT", False),
        "delivered-read": ("delivered", "READ", False),
        "read-sent": ("read", "SENT", True),
        "read-failed": ("read", "FAILED", True),
        "read-read": ("read", "READ", False),
        "failed-new": ("failed", None, True),
        "failed-sent": ("failed", "SENT", True),
        "failed-failed": ("failed", "FAILED", False),
        "failed-read": ("failed", "READ", False),  # READ in HubSpot is final: no run would change it
        "pending-read": ("pending", "READ", False),
        "blank-report": ("delivered", "  ", True),  # blank: nothing reported
    }
    insert_records(store, [webhook(m, delivery_status=d, reported_status=r) for m, (d, r, _) in cases.items()])
    got = loaded(store)
    assert set(got) == {m for m, (_, _, want) in cases.items() if want}
    assert got["delivered-failed"]["reported_status"] == "FAILED"
    assert got["read-sent"]["reported_status"] == "SENT"
    assert "reported_status" not in got["pending-new"] and "reported_status" not in got["blank-report"]


def test_load_unreconciled_bounds_order_and_keys(store: Path) -> None:
    insert_records(
        store,
        [
            webhook("late", created_at=T0 + timedelta(minutes=30), conversations_thread_id=8100000001),
            webhook("early", created_at=T0 - timedelta(minutes=5), recipient="+15550100"),
            webhook("outside", created_at=UNTIL + timedelta(microseconds=1)),
            webhook("before-start", created_at=T0 - timedelta(hours=2)),
            {**webhook("other-channel"), "channel_id": 1002},
        ],
    )
    got = load_unreconciled(store, created_after=T0 - timedelta(hours=1), created_at_or_before=UNTIL, channel_id=1001)
    assert [r["message_id"] for r in got] == ["early", "late"]
    assert got[0] == {
        "channel_id": 1001,
        "message_id": "early",
        "created_at": "2026-11-24T09:55:00.000000+00:00",
        "delivery_status": "pending",
        "recipient": "+15550100",
    }
    assert got[1]["conversations_thread_id"] == "8100000001"
    with pytest.raises(InvalidInputError):
        load_unreconciled(store, created_at_or_before=datetime(2026, 11, 24, 11, 0))


def test_write_back_records_what_hubspot_shows_and_never_touches_delivery_status(store: Path) -> None:
    rows = {
        "stale": ("pending", report_row("stale", "marked_failed", "FAILED")),
        "delivered": ("delivered", report_row("delivered", "marked_sent", "SENT")),
        "late": ("read", report_row("late", "corrected_to_read", "READ")),
        "carrier": ("failed", report_row("carrier", "marked_failed_by_carrier", "FAILED")),
        "right": ("delivered", report_row("right", "already_correct", "SENT")),
        "read-in-hubspot": ("pending", report_row("read-in-hubspot", "skipped_read_in_hubspot", "READ")),
        "ghost": ("pending", report_row("ghost", "not_found")),
        "refused": ("delivered", report_row("refused", "refused")),
        "incoming": ("pending", report_row("incoming", "skipped_not_outgoing")),
        "fresh": ("pending", report_row("fresh", "skipped_not_stale")),
        "dry": ("pending", report_row("dry", "would_mark_failed")),
        "broken": ("pending", report_row("broken", "error")),
        "reported": ("delivered", report_row("reported", "already_reported")),
    }
    insert_records(store, [webhook(m, delivery_status=d) for m, (d, _) in rows.items()])
    counts = record_outcomes(store, write_report(store, [row for _, row in rows.values()]))
    assert {k: v for k, v in counts.items() if v} == {
        "marked_failed": 1,
        "marked_sent": 1,
        "corrected_to_read": 1,
        "marked_failed_by_carrier": 1,
        "already_correct": 1,
        "skipped_read_in_hubspot": 1,
        "not_found": 1,
        "refused": 1,
        "skipped_not_outgoing": 1,
    }
    assert counts["bad_lines"] == 0
    got = stored(store)
    assert {m: r["delivery_status"] for m, r in got.items()} == {m: d for m, (d, _) in rows.items()}
    assert {m: r["reported_status"] for m, r in got.items() if r["reported_status"]} == {
        "stale": "FAILED",
        "delivered": "SENT",
        "late": "READ",
        "carrier": "FAILED",
        "right": "SENT",
        "read-in-hubspot": "READ",
    }
    assert all(got[m]["reported_at"] for m in ("stale", "delivered", "late", "carrier", "right"))
    assert {m: r["abandoned"] for m, r in got.items() if r["abandoned"]} == {
        "ghost": "not_found",
        "refused": "refused",
        "incoming": "skipped_not_outgoing",
    }
    # HubSpot now agrees (or cannot be changed, or the row was abandoned): only the untouched rows load again
    assert set(loaded(store)) == {"fresh", "dry", "broken", "reported"}
    assert [r["message_id"] for r in load_pending(store, created_at_or_before=UNTIL)] == ["broken", "dry", "fresh"]


def test_late_receipt_after_a_failed_is_loaded_with_what_was_reported(store: Path) -> None:
    insert_records(store, [webhook("m1")])
    record_outcomes(store, write_report(store, [report_row("m1", "marked_failed", "FAILED")]))
    assert loaded(store) == {}
    assert record_receipt(store, 1001, "m1", "delivered")
    row = loaded(store)["m1"]
    assert (row["delivery_status"], row["reported_status"]) == ("delivered", "FAILED")
    assert datetime.fromisoformat(row["receipt_at"]) >= datetime.fromisoformat(stored(store)["m1"]["reported_at"])
    record_outcomes(store, write_report(store, [report_row("m1", "corrected_to_sent", "SENT")]))
    assert loaded(store) == {}
    # and the read receipt that follows is one more disagreement, corrected the same way
    assert record_receipt(store, 1001, "m1", "read")
    assert loaded(store)["m1"]["reported_status"] == "SENT"


def test_carrier_failure_after_an_sla_failed_is_checked_again(store: Path) -> None:
    # HubSpot shows FAILED with the SLA text; the carrier's own error arrives later and is the better explanation.
    # The status alone agrees, so the row loads without reported_status: the run checks HubSpot's text.
    insert_records(store, [webhook("m1")])
    record_outcomes(store, write_report(store, [report_row("m1", "marked_failed", "FAILED")]))
    assert record_receipt(store, 1001, "m1", "failed", carrier_error="30003 Unreachable destination handset")
    row = loaded(store)["m1"]
    assert "reported_status" not in row and row["carrier_error"] == "30003 Unreachable destination handset"
    record_outcomes(store, write_report(store, [report_row("m1", "marked_failed_by_carrier", "FAILED")]))
    assert loaded(store) == {}


@pytest.mark.parametrize("receipt", ["delivered", "read", "failed"])
def test_receipt_recorded_during_the_run_is_never_lost(store: Path, receipt: str) -> None:
    insert_records(store, [webhook("m-late"), webhook("m-silent")])
    assert set(loaded(store)) == {"m-late", "m-silent"}
    # The run is under way (it judged both pending): m-late's receipt arrives before the write-back
    carrier_error = "30007 Message filtered by carrier" if receipt == "failed" else None
    assert record_receipt(store, 1001, "m-late", receipt, carrier_error=carrier_error)
    report = [report_row("m-late", "marked_failed", "FAILED"), report_row("m-silent", "marked_failed", "FAILED")]
    assert record_outcomes(store, write_report(store, report))["marked_failed"] == 2
    got = stored(store)
    assert (got["m-late"]["delivery_status"], got["m-late"]["reported_status"]) == (receipt, "FAILED")
    assert set(loaded(store)) == {"m-late"}  # the receipt is the truth: the next run tells HubSpot


def test_insert_keeps_what_was_reported_and_refuses_bad_values(store: Path) -> None:
    insert_records(
        store,
        [webhook("m1", delivery_status="delivered", reported_status="sent", conversations_thread_id="8100000002")],
    )
    row = stored(store)["m1"]
    assert (row["reported_status"], row["conversations_thread_id"]) == ("SENT", "8100000002")
    assert row["reported_at"] and row["receipt_at"] is None and row["abandoned"] is None
    with pytest.raises(InvalidInputError, match="reported_status"):
        insert_records(store, [webhook("m2", reported_status="RECEIVED")])
    with pytest.raises(InvalidInputError, match="conversations_thread_id"):
        insert_records(store, [webhook("m3", conversations_thread_id="12a")])
    with pytest.raises(InvalidInputError, match="conversations_thread_id"):
        insert_records(store, [webhook("m4", conversations_thread_id=True)])
    assert set(stored(store)) == {"m1"}  # a refused batch writes nothing


def test_write_back_skips_rows_with_an_unusable_status_after(store: Path) -> None:
    insert_records(store, [webhook("m1"), webhook("m2"), webhook("m3")])
    report = store.parent / "report.jsonl"
    lines = [
        json.dumps(report_row("m1", "marked_failed", "FAILED")),
        json.dumps(report_row("m2", "marked_failed", 3)),  # type: ignore[arg-type]
        json.dumps(report_row("m3", "marked_failed", "DELIVERED")),
    ]
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = record_outcomes(store, report)
    assert (counts["marked_failed"], counts["bad_lines"]) == (1, 2)
    assert {m: r["reported_status"] for m, r in stored(store).items()} == {"m1": "FAILED", "m2": None, "m3": None}


OLD_SCHEMA = """
CREATE TABLE outgoing_messages (
    channel_id      INTEGER NOT NULL,
    message_id      TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    delivery_status TEXT    NOT NULL DEFAULT 'pending',
    recipient       TEXT,
    carrier_error   TEXT,
    reconciled_at   TEXT,
    PRIMARY KEY (channel_id, message_id)
)
"""


def test_a_store_of_the_previous_version_keeps_working(store: Path) -> None:
    store.parent.mkdir(parents=True)
    created = "2026-11-24T10:00:00.000000+00:00"
    settled = "2026-11-24T10:20:00.000000+00:00"
    with closing(sqlite3.connect(store)) as db, db:
        db.execute(OLD_SCHEMA)
        db.executemany(
            "INSERT INTO outgoing_messages VALUES (1001, ?, ?, ?, NULL, NULL, ?)",
            [
                ("marked", created, "failed", settled),  # the previous version marked it FAILED
                ("late", created, "delivered", settled),  # marked FAILED, then its receipt came: never told
                ("terminal", created, "pending", settled),  # READ/FAILED in HubSpot, or unknown to it
                ("waiting", created, "pending", None),
                ("delivered", created, "delivered", None),
            ],
        )
    got = loaded(store)
    assert set(got) == {"late", "waiting", "delivered"}
    assert "reported_status" not in got["late"]  # the previous version did not know what it told: verify
    assert [r["message_id"] for r in load_pending(store, created_at_or_before=UNTIL)] == ["waiting"]
    row = stored(store)["marked"]
    assert (row["reported_status"], row["reported_at"], row["delivery_status"]) == ("FAILED", settled, "failed")
    # a receipt for a message the previous version settled still reaches HubSpot
    assert record_receipt(store, 1001, "terminal", "delivered")
    assert "terminal" in loaded(store)
    # and opening the migrated file again changes nothing
    before = stored(store)
    assert stored(store) == before
    with closing(connect(store)) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(outgoing_messages)")]
    assert len(columns) == len(set(columns))


@pytest.mark.parametrize(
    ("record", "outcome", "after"),
    [
        ({}, "already_correct", "FAILED"),  # stale, HubSpot already FAILED with the SLA text
        ({"delivery_status": "failed", "carrier_error": "busy"}, "marked_failed_by_carrier", "FAILED"),
        ({"delivery_status": "delivered"}, "marked_sent", "SENT"),
    ],
)
def test_a_receipt_recorded_during_the_run_after_any_outcome_is_loaded_again(store, record, outcome, after):
    # The run read the row before the receipt came: whatever it wrote, HubSpot does not know the receipt yet
    # (review: a carrier's error arriving during a run was never reported after already_correct or a carrier write).
    insert_records(store, [webhook("m", **record)])
    loaded_at = datetime.now(timezone.utc)
    assert set(loaded(store)) == {"m"}
    assert record_receipt(store, 1001, "m", "failed", carrier_error="number unreachable")
    report = write_report(store, [report_row("m", outcome, after)])
    record_outcomes(store, report, loaded_at=loaded_at)
    assert set(loaded(store)) == {"m"}


def test_received_in_hubspot_is_not_kept_as_a_report(store):
    # HubSpot's RECEIVED is no status a bridge reports; kept as reported_status it made every later load invalid.
    insert_records(store, [webhook("m", delivery_status="delivered")])
    record_outcomes(store, write_report(store, [report_row("m", "error", "RECEIVED")]))
    assert stored(store)["m"]["reported_status"] is None
