"""The report writer is never why a batch stops (issue 12): any text it is given can be written as UTF-8."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from airflow_provider_hubspot_channels.reconciliation import (
    SUMMARY_MAX_BYTES,
    MessageOutcome,
    Outcome,
    RunReport,
    StalenessPolicy,
    format_table,
    plan,
)

REFERENCE = datetime(2026, 11, 24, 10, 20, tzinfo=timezone.utc)
BROKEN = "x\ud83d y\ude00 z"  # two lone halves, as JavaScript's JSON output can hold them


def broken_outcome(index: int, kind: Outcome = Outcome.ERROR) -> MessageOutcome:
    return MessageOutcome(
        index=index,
        channel_id=BROKEN,
        message_id=BROKEN,
        outcome=kind,
        reason=BROKEN,
        error_message=BROKEN,
        hubspot_status_before=BROKEN,
        correlation_id=BROKEN,
    )


def test_a_report_row_with_lone_surrogates_encodes_as_utf8() -> None:
    line = broken_outcome(0).to_json()
    line.encode("utf-8")
    row = json.loads(line)
    assert row["message_id"] == "x\ufffd y\ufffd z"
    assert row["reason"] == "x\ufffd y\ufffd z"


def test_a_surrogate_pair_in_a_report_row_becomes_its_character() -> None:
    row = json.loads(MessageOutcome(0, "1", "m", Outcome.INVALID, reason="a \ud83d\ude00").to_json())
    assert row["reason"] == "a \U0001f600"


def test_summary_and_table_with_lone_surrogates_encode_as_utf8() -> None:
    report = RunReport()
    for index, kind in enumerate([Outcome.ERROR, Outcome.NOT_FOUND, Outcome.INVALID, Outcome.MARKED_FAILED]):
        report.add(broken_outcome(index, kind))
    summary = report.summary(
        reference_time=REFERENCE,
        stale_after=timedelta(minutes=15),
        dry_run=False,
        verify_status=True,
        duration_seconds=1.0,
        stopped_reason=BROKEN,
    )
    json.dumps(summary, ensure_ascii=False).encode("utf-8")
    assert len(json.dumps(summary)) < SUMMARY_MAX_BYTES
    format_table(summary).encode("utf-8")


def test_a_table_of_a_summary_read_back_with_surrogates_encodes_as_utf8() -> None:
    summary = {
        "total": 1,
        "counts": {"error": 1},
        "stopped_reason": BROKEN,
        "examples": {"error": [{"reason": BROKEN}]},
    }
    format_table(summary).encode("utf-8")


def test_a_batch_with_broken_text_ends_in_writable_report_rows() -> None:
    policy = StalenessPolicy(timedelta(minutes=15), REFERENCE)
    batch = json.loads(
        '[{"channel_id": 1, "message_id": "m\\ud83d", "created_at": "2026-11-24T10:00:00Z"},'
        ' {"channel_id": 1, "message_id": "m2", "created_at": "2026-11-24T10:00:00Z", "recipient": "Ana \\ud83d"}]'
    )
    decisions = plan(batch, policy)
    assert [decision.outcome for decision in decisions] == [Outcome.INVALID, None]
    for decision in decisions:
        MessageOutcome(
            index=decision.index,
            channel_id=decision.channel_id,
            message_id=decision.message_id,
            outcome=decision.outcome or Outcome.MARKED_FAILED,
            reason=decision.reason,
            error_message=decision.error_message,
        ).to_json().encode("utf-8")
    assert decisions[1].error_message is not None
    assert "Ana \ufffd" in decisions[1].error_message
