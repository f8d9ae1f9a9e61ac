"""The reference integrator store, on plain SQLite files (no Airflow needed)."""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.client import InvalidInputError
from airflow_provider_hubspot_channels.sqlite_store import (
    connect,
    insert_records,
    load_pending,
    record_outcomes,
    record_receipt,
)

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def webhook(message_id: str, created_at: Any, channel_id: int = 1001, **extra: Any) -> dict[str, Any]:
    return {"channel_id": channel_id, "message_id": message_id, "created_at": created_at, **extra}


def rows(path: Path) -> dict[str, dict[str, Any]]:
    with closing(connect(path)) as db:
        return {r["message_id"]: dict(r) for r in db.execute("SELECT * FROM outgoing_messages")}


# What HubSpot shows after each outcome, as the report says (the rest: not known, None)
STATUS_AFTER = {"marked_failed": "FAILED", "already_correct": "FAILED", "skipped_read_in_hubspot": "READ"}


def write_report(path: Path, outcomes: dict[str, str], channel_id: int = 1001) -> Path:
    report = path.parent / "report.jsonl"
    lines = [
        json.dumps(
            {
                "index": i,
                "channel_id": channel_id,
                "message_id": m,
                "outcome": o,
                "hubspot_status_after": STATUS_AFTER.get(o),
            }
        )
        for i, (m, o) in enumerate(outcomes.items())
    ]
    report.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return report


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store" / "integrator.sqlite"


def test_redelivered_webhook_keeps_settled_rows(store: Path) -> None:
    assert insert_records(store, [webhook("m-delivered", "2026-11-24T10:00:00Z"), webhook("m-failed", T0)]) == 2
    assert record_receipt(store, 1001, "m-delivered", "delivered")
    write_report(store, {"m-failed": "marked_failed"})
    record_outcomes(store, store.parent / "report.jsonl")
    before = rows(store)
    assert before["m-delivered"]["delivery_status"] == "delivered"
    assert before["m-failed"]["reported_status"] == "FAILED" and before["m-failed"]["reported_at"]

    # HubSpot redelivers both webhooks (at least once), in another timestamp form, without a status
    redelivered = [webhook("m-delivered", epoch_ms(T0)), webhook("m-failed", "2026-11-24T11:00:00+01:00")]
    assert insert_records(store, redelivered) == 0
    assert rows(store) == before
    assert load_pending(store, created_at_or_before=T0 + timedelta(days=1)) == []


def test_insert_counts_only_new_rows(store: Path) -> None:
    assert insert_records(store, [webhook("a", T0), webhook("a", T0), webhook("b", T0)]) == 2
    assert insert_records(store, [webhook("b", T0), webhook("c", T0), webhook("a", T0, channel_id=1002)]) == 2
    assert len(load_pending(store, created_at_or_before=T0)) == 4


def test_receipts_update_only(store: Path) -> None:
    insert_records(store, [webhook("m1", T0, recipient="+15550100"), webhook("m2", T0), webhook("m3", T0)])
    assert record_receipt(store, 1001, "m1", "read")
    assert record_receipt(store, 1001, "m2", "failed", carrier_error="30003 Unreachable")
    assert not record_receipt(store, 1001, "unknown", "delivered")
    assert not record_receipt(store, 1002, "m3", "delivered")  # another channel's message
    got = rows(store)
    assert set(got) == {"m1", "m2", "m3"}
    assert (got["m1"]["delivery_status"], got["m1"]["recipient"], got["m1"]["carrier_error"]) == (
        "read",
        "+15550100",
        None,
    )
    assert (got["m2"]["delivery_status"], got["m2"]["carrier_error"]) == ("failed", "30003 Unreachable")
    assert got["m3"]["delivery_status"] == "pending"
    assert [r["message_id"] for r in load_pending(store, created_at_or_before=T0)] == ["m3"]


def test_late_receipt_keeps_what_was_reported(store: Path) -> None:
    insert_records(store, [webhook("m1", T0)])
    record_outcomes(store, write_report(store, {"m1": "marked_failed"}))
    reported = (rows(store)["m1"]["reported_status"], rows(store)["m1"]["reported_at"])
    assert record_receipt(store, 1001, "m1", "delivered")
    got = rows(store)["m1"]
    assert (got["delivery_status"], (got["reported_status"], got["reported_at"])) == ("delivered", reported)
    assert got["receipt_at"] >= got["reported_at"]


@pytest.mark.parametrize("status", ["pending", "DELIVERED", "sent", ""])
def test_receipt_refuses_unknown_statuses(store: Path, status: str) -> None:
    insert_records(store, [webhook("m1", T0)])
    with pytest.raises(ValueError, match="delivery_status"):
        record_receipt(store, 1001, "m1", status)


def test_load_pending_bounds_with_mixed_timestamp_forms(store: Path) -> None:
    after, until = T0, T0 + timedelta(hours=1)
    insert_records(
        store,
        [
            webhook("before", "2026-11-24T09:59:59.999999Z"),
            webhook("on-start", epoch_ms(T0)),  # exclusive lower bound
            webhook("just-after-start", "2026-11-24T11:00:00.001+01:00"),
            webhook("inside", str(epoch_ms(T0 + timedelta(minutes=30)))),
            webhook("on-end", "2026-11-24T06:00:00-05:00"),  # 11:00Z: inclusive upper bound
            webhook("just-after-end", "2026-11-24T11:00:00.000001Z"),
            webhook("other-channel", "2026-11-24T10:30:00Z", channel_id=1002),
            webhook("delivered", "2026-11-24T10:30:00Z", delivery_status="delivered"),
        ],
    )
    got = load_pending(store, created_after=after, created_at_or_before=until, channel_id=1001)
    assert [r["message_id"] for r in got] == ["just-after-start", "inside", "on-end"]
    assert [r["created_at"] for r in got] == [
        "2026-11-24T10:00:00.001000+00:00",
        "2026-11-24T10:30:00.000000+00:00",
        "2026-11-24T11:00:00.000000+00:00",
    ]
    # Bounds given in another offset mean the same instants
    plus_two = timezone(timedelta(hours=2))
    same = load_pending(
        store, created_after=after.astimezone(plus_two), created_at_or_before=until.astimezone(plus_two)
    )
    assert [r["message_id"] for r in same] == ["just-after-start", "inside", "other-channel", "on-end"]
    everything = load_pending(store, created_at_or_before=until)
    assert [r["message_id"] for r in everything][:2] == ["before", "on-start"]


def test_load_pending_refuses_naive_bounds(store: Path) -> None:
    insert_records(store, [webhook("m1", T0)])
    with pytest.raises(InvalidInputError):
        load_pending(store, created_at_or_before=datetime(2026, 11, 24, 11, 0))
    with pytest.raises(InvalidInputError):
        load_pending(store, created_after=datetime(2026, 11, 24, 9, 0), created_at_or_before=T0)


def report_line(message_id: Any, outcome: Any = "marked_failed", channel_id: Any = "1001", **extra: Any) -> str:
    after = STATUS_AFTER.get(outcome) if isinstance(outcome, str) else None
    row = {"channel_id": channel_id, "message_id": message_id, "outcome": outcome, "hubspot_status_after": after}
    return json.dumps({**row, **extra})


def test_record_outcomes_skips_and_counts_bad_lines_in_one_transaction(store: Path) -> None:
    good = [f"ok-{n}" for n in range(4)]
    insert_records(store, [webhook(m, T0) for m in [*good, "m-surrogate"]])
    lines = [
        report_line("ok-0"),
        json.dumps({"message_id": "ok-x", "outcome": "marked_failed"}),  # no channel_id
        report_line("ok-x", channel_id="1001.5"),  # not integral
        report_line("ok-x", channel_id=1001.5),
        report_line("ok-x", channel_id=True),
        report_line("ok-x", channel_id="²"),  # a digit to str.isdigit(), not to int()
        report_line("ok-x", channel_id=2**40),
        report_line("\ud800lone"),  # a lone surrogate cannot be stored
        report_line(None),
        report_line("ok-1", outcome=None),
        "[1, 2]",
        "",
        report_line("ok-1", reason="text with a lone \udfff surrogate is only text"),
        report_line("ok-2", outcome="skipped_read_in_hubspot"),
        report_line("ok-3", outcome="not_found"),
    ]
    report = store.parent / "report.jsonl"
    body = "".join(line + "\n" for line in lines).encode("utf-8")
    body += b'{"channel_id": "1001", "message_id": "m-surrogate", "reason": "\xed\xa0\x80"}\n'  # raw surrogate bytes
    body += b'{"channel_id": "1001", "message_id": "m-sur'  # a worker killed mid-line
    report.write_bytes(body)
    counts = record_outcomes(store, report)
    written = {"marked_failed": 2, "skipped_read_in_hubspot": 1, "not_found": 1}
    assert {k: v for k, v in counts.items() if v} == {**written, "bad_lines": 13}
    got = {m: (r["delivery_status"], r["reported_status"], r["abandoned"]) for m, r in rows(store).items()}
    assert got == {
        "ok-0": ("pending", "FAILED", None),
        "ok-1": ("pending", "FAILED", None),
        "ok-2": ("pending", "READ", None),
        "ok-3": ("pending", None, "not_found"),
        "m-surrogate": ("pending", None, None),
    }
