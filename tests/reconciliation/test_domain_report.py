"""The run report: JSON Lines rows, counts that add up, bounded examples and a summary under 10 KB."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.reconciliation import (
    SUMMARY_MAX_BYTES,
    Action,
    MessageOutcome,
    Outcome,
    RunReport,
    StalenessPolicy,
    decision_outcome,
    format_table,
    plan,
)

REFERENCE = datetime(2026, 11, 24, 10, 20, tzinfo=timezone.utc)
SLA = timedelta(minutes=15)


def summarise(report: RunReport, **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "reference_time": REFERENCE,
        "stale_after": SLA,
        "dry_run": False,
        "verify_status": True,
        "duration_seconds": 12.3456,
        "stopped_reason": None,
    }
    arguments.update(overrides)
    return report.summary(**arguments)


def outcome(index: int, kind: Outcome, **fields: Any) -> MessageOutcome:
    return MessageOutcome(index=index, channel_id="1234", message_id=f"m{index}", outcome=kind, reason="r", **fields)


def test_a_json_lines_row_has_stable_snake_case_keys_on_one_line() -> None:
    line = MessageOutcome(
        index=3,
        channel_id="1234",
        message_id="m-3",
        outcome=Outcome.MARKED_FAILED,
        reason="stale:\nno receipt",
        error_message="Não entregue",
        hubspot_status_before="SENT",
        correlation_id="c-1",
        attempts=2,
    ).to_json()
    assert "\n" not in line
    assert list(json.loads(line)) == [
        "index",
        "channel_id",
        "message_id",
        "outcome",
        "reason",
        "status_type",
        "error_message",
        "hubspot_status_before",
        "hubspot_status_after",
        "correlation_id",
        "attempts",
    ]
    assert json.loads(line)["outcome"] == "marked_failed"
    assert "Não entregue" in line  # readable, not \\u-escaped


def test_skip_decisions_become_outcomes_and_mark_failed_ones_do_not() -> None:
    policy = StalenessPolicy(SLA, REFERENCE)
    fresh, stale = plan(
        [
            {"channel_id": 1, "message_id": "f", "created_at": "2026-11-24T10:19:00Z"},
            {"channel_id": 1, "message_id": "s", "created_at": "2026-11-24T10:00:00Z"},
        ],
        policy,
    )
    assert decision_outcome(fresh) == MessageOutcome(
        index=0,
        channel_id="1",
        message_id="f",
        outcome=Outcome.SKIPPED_NOT_STALE,
        reason="fresh: 1 minute old, SLA 15 minutes",
    )
    assert stale.action is Action.WRITE
    with pytest.raises(ValueError, match="row 1"):
        decision_outcome(stale)


def test_counts_list_every_outcome_with_zeros_and_add_up() -> None:
    report = RunReport()
    assert report.counts == {kind.value: 0 for kind in Outcome}
    for index, kind in enumerate([Outcome.MARKED_FAILED, Outcome.MARKED_FAILED, Outcome.NOT_FOUND]):
        report.add(outcome(index, kind))
    assert report.counts["marked_failed"] == 2
    assert report.counts["not_found"] == 1
    assert report.counts["error"] == 0
    assert report.total == 3


def test_examples_are_capped_and_kept_only_for_outcomes_to_look_at() -> None:
    report = RunReport()
    for index in range(20):
        report.add(outcome(index, Outcome.ERROR, correlation_id=f"c{index}"))
        report.add(outcome(index, Outcome.SKIPPED_NOT_STALE))
    assert set(report.examples) == {
        "error",
        "refused",
        "not_found",
        "invalid",
        "skipped_not_outgoing",
        "corrected_to_sent",
        "corrected_to_read",
        "marked_failed_by_carrier",
        "marked_failed",
    }
    assert [example["index"] for example in report.examples["error"]] == [0, 1, 2, 3, 4]
    assert report.examples["error"][0]["correlation_id"] == "c0"


def test_summary_content() -> None:
    report = RunReport()
    report.add(outcome(0, Outcome.WOULD_MARK_FAILED))
    summary = summarise(report, dry_run=True, stopped_reason="daily limit reached")
    assert json.loads(json.dumps(summary)) == summary
    assert summary["total"] == 1
    assert summary["counts"]["would_mark_failed"] == 1
    assert summary["reference_time"] == "2026-11-24T10:20:00+00:00"
    assert summary["stale_after_seconds"] == 900
    assert summary["sla"] == "15 minutes"
    assert (summary["dry_run"], summary["verify_status"]) == (True, True)
    assert summary["duration_seconds"] == 12.346
    assert summary["stopped_reason"] == "daily limit reached"


def test_summary_is_a_snapshot_not_a_view_of_the_report() -> None:
    report = RunReport()
    summary = summarise(report)
    report.add(outcome(0, Outcome.ERROR))
    assert summary["counts"]["error"] == 0
    assert summary["examples"]["error"] == []


def test_summary_stays_under_ten_kilobytes_for_a_huge_batch_with_long_texts() -> None:
    report = RunReport()
    long_text = "Error \U0001f600 " * 300  # astral characters escape to 12 bytes each
    kinds = [Outcome.ERROR, Outcome.NOT_FOUND, Outcome.INVALID, Outcome.MARKED_FAILED, Outcome.SKIPPED_SETTLED]
    for index in range(100_000):
        report.add(
            MessageOutcome(
                index=index,
                channel_id=long_text,
                message_id=long_text,
                outcome=kinds[index % len(kinds)],
                reason=long_text,
                error_message=long_text,
                correlation_id=long_text,
            )
        )
    summary = summarise(report, stopped_reason=long_text)
    assert len(json.dumps(summary).encode()) < SUMMARY_MAX_BYTES <= 10 * 1024
    assert summary["total"] == 100_000
    assert sum(summary["counts"].values()) == 100_000
    assert len(summary["examples"]["error"]) == 5  # shortened, not dropped


def test_plan_and_report_add_up_to_the_batch_size() -> None:
    policy = StalenessPolicy(SLA, REFERENCE)
    batch: list[Any] = [
        {"channel_id": 1, "message_id": f"m{number % 40}", "created_at": f"2026-11-24T10:{number % 30:02d}:00Z"}
        for number in range(100)
    ]
    batch += ["junk", {"channel_id": 1}]
    report = RunReport()
    for decision in plan(batch, policy):
        if decision.action is Action.SKIP:
            report.add(decision_outcome(decision))
        else:
            report.add(outcome(decision.index, Outcome.MARKED_FAILED))
    assert report.total == len(batch)
    assert report.counts["invalid"] == 2
    assert report.counts["skipped_duplicate"] == 60


def test_table_shows_every_outcome_with_share_and_the_examples() -> None:
    report = RunReport()
    for index in range(3):
        report.add(outcome(index, Outcome.MARKED_FAILED, error_message="Not delivered", correlation_id="c-9"))
    report.add(outcome(3, Outcome.SKIPPED_NOT_STALE))
    table = format_table(summarise(report, stopped_reason="killed"))
    lines = table.splitlines()
    assert "Reconciled 4 messages" in lines[0] and "SLA 15 minutes" in lines[0] and "12.3 s" in lines[0]
    assert any(line.split() == ["marked_failed", "3", "75.0%"] for line in lines)
    assert any(line.split() == ["skipped_not_stale", "1", "25.0%"] for line in lines)
    assert any(line.split() == ["error", "0", "0.0%"] for line in lines)
    assert any(line.split() == ["total", "4", "100.0%"] for line in lines)
    assert "Stopped early: killed" in table
    assert "messages[0] channel 1234 message m0: r (correlationId c-9)" in table
    assert "Not delivered" not in table  # the explanation names the recipient: not for the task log
    assert RunReport.format_table(summarise(report)) == table.replace("\nStopped early: killed", "")


def test_table_shows_missing_ids_as_a_dash() -> None:
    report = RunReport()
    report.add(MessageOutcome(index=7, channel_id=None, message_id=None, outcome=Outcome.INVALID, reason="bad"))
    assert "invalid: messages[7] channel - message -: bad" in format_table(summarise(report))


def test_table_of_an_empty_run_and_a_dry_run() -> None:
    table = format_table(summarise(RunReport(), dry_run=True))
    assert "Reconciled 0 messages (dry run)" in table
    assert any(line.split() == ["total", "0", "-"] for line in table.splitlines())
