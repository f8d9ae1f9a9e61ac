"""Two-way reconciliation on plain data: targets, the transition table, reported statuses, explicit updates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import (
    DRY_RUN_TWINS,
    Action,
    Cause,
    Mode,
    Outcome,
    StalenessPolicy,
    Target,
    after_write,
    iter_updates,
    judge,
    plan,
    write_outcome,
)

POLICY = StalenessPolicy(timedelta(minutes=15), datetime(2026, 11, 24, 10, 20, tzinfo=timezone.utc))
STALE_AT = "2026-11-24T10:00:00Z"
FRESH_AT = "2026-11-24T10:16:00Z"

STALE = Target("FAILED", "Not delivered: no confirmation.", Cause.STALE)
CARRIER = Target("FAILED", "Not delivered: the carrier said no.", Cause.RECEIPT)
SENT = Target("SENT", None, Cause.RECEIPT)
READ = Target("READ", None, Cause.RECEIPT)


def hubspot(status: str | None, text: str | None = None, direction: str = "OUTGOING") -> dict[str, Any]:
    message: dict[str, Any] = {"id": "m", "direction": direction}
    if status is not None:
        message["status"] = {"statusType": status}
        if text is not None:
            message["status"]["failureDetails"] = {"errorMessage": text}
    return message


# The README's table, cell by cell: HubSpot shows x the record's target -> outcome.
TABLE = [
    (None, SENT, Outcome.MARKED_SENT),
    (None, READ, Outcome.MARKED_READ),
    (None, STALE, Outcome.MARKED_FAILED),
    (None, CARRIER, Outcome.MARKED_FAILED_BY_CARRIER),
    ("RECEIVED", SENT, Outcome.MARKED_SENT),
    ("SENT", SENT, Outcome.ALREADY_CORRECT),
    ("SENT", READ, Outcome.MARKED_READ),
    ("SENT", STALE, Outcome.MARKED_FAILED),
    ("SENT", CARRIER, Outcome.MARKED_FAILED_BY_CARRIER),
    ("READ", SENT, Outcome.SKIPPED_READ_IN_HUBSPOT),
    ("READ", READ, Outcome.ALREADY_CORRECT),
    ("READ", STALE, Outcome.SKIPPED_READ_IN_HUBSPOT),
    ("READ", CARRIER, Outcome.SKIPPED_READ_IN_HUBSPOT),
    ("FAILED", SENT, Outcome.CORRECTED_TO_SENT),
    ("FAILED", READ, Outcome.CORRECTED_TO_READ),
    ("FAILED", STALE, Outcome.ALREADY_CORRECT),
]


@pytest.mark.parametrize(("shown", "target", "expected"), TABLE)
def test_the_transition_table(shown: str | None, target: Target, expected: Outcome) -> None:
    verdict = judge(target, hubspot(shown, "some text"))
    assert verdict.outcome is expected and verdict.before == shown
    assert verdict.writes is (expected not in {Outcome.ALREADY_CORRECT, Outcome.SKIPPED_READ_IN_HUBSPOT})


def test_a_failed_with_the_same_carrier_text_is_correct_and_another_text_is_replaced() -> None:
    assert judge(CARRIER, hubspot("FAILED", CARRIER.error_message)).outcome is Outcome.ALREADY_CORRECT
    assert judge(CARRIER, hubspot("FAILED", "Not delivered: no confirmation.")).outcome is (
        Outcome.MARKED_FAILED_BY_CARRIER
    )


@pytest.mark.parametrize("target", [SENT, READ, STALE, CARRIER])
def test_an_incoming_message_is_never_written(target: Target) -> None:
    assert judge(target, hubspot(None, direction="INCOMING")).outcome is Outcome.SKIPPED_NOT_OUTGOING


def test_read_is_overwritten_only_when_an_explicit_update_says_so() -> None:
    explicit = Target("FAILED", "Bounced.", Cause.EXPLICIT, overwrite_read=True)
    assert judge(explicit, hubspot("READ")).outcome is Outcome.MARKED_FAILED
    assert judge(Target("SENT", None, Cause.EXPLICIT), hubspot("READ")).outcome is Outcome.SKIPPED_READ_IN_HUBSPOT


def test_without_a_lookup_the_target_is_written_as_is_and_dry_runs_have_twins() -> None:
    assert [write_outcome(t, None) for t in (SENT, READ, STALE, CARRIER)] == [
        Outcome.MARKED_SENT,
        Outcome.MARKED_READ,
        Outcome.MARKED_FAILED,
        Outcome.MARKED_FAILED_BY_CARRIER,
    ]
    assert all(
        twin.value == "would_" + written.value.replace("marked", "mark").replace("corrected", "correct")
        for written, twin in DRY_RUN_TWINS.items()
    )


def test_the_patch_answer_decides_what_hubspot_shows_after() -> None:
    assert after_write(SENT, hubspot("SENT"), Outcome.MARKED_SENT)[:2] == (Outcome.MARKED_SENT, "SENT")
    assert after_write(SENT, {}, Outcome.MARKED_SENT)[:2] == (Outcome.MARKED_SENT, "SENT")
    kept = after_write(STALE, hubspot("READ"), Outcome.MARKED_FAILED)
    assert kept[:2] == (Outcome.SKIPPED_READ_IN_HUBSPOT, "READ") and "keeps READ" in kept[2]
    assert after_write(READ, hubspot("SENT"), Outcome.MARKED_READ)[0] is Outcome.ERROR


def row(message_id: str, created_at: str = STALE_AT, **extra: Any) -> dict[str, Any]:
    return {"channel_id": 1234, "message_id": message_id, "created_at": created_at, **extra}


def test_two_way_targets_follow_the_record() -> None:
    batch = [
        row("read", delivery_status="read"),
        row("delivered", delivery_status="delivered"),
        row("failed", delivery_status="failed", carrier_error="number unreachable", receipt_at="2026-11-24T10:07:00Z"),
        row("stale"),
        row("fresh", FRESH_AT),
    ]
    decisions = plan(batch, POLICY, mode=Mode.TWO_WAY)
    targets = [(d.target.status_type, d.target.cause) if d.target else d.outcome for d in decisions]
    assert targets == [
        ("READ", Cause.RECEIPT),
        ("SENT", Cause.RECEIPT),
        ("FAILED", Cause.RECEIPT),
        ("FAILED", Cause.STALE),
        Outcome.SKIPPED_NOT_STALE,
    ]
    carrier_text = decisions[2].error_message or ""
    assert "number unreachable" in carrier_text and "2026-11-24 10:07 UTC" in carrier_text
    assert "within 15 minutes" in (decisions[3].error_message or "")


def test_stale_only_mode_leaves_receipts_alone_and_ignores_reported_status() -> None:
    batch = [row("delivered", delivery_status="delivered"), row("stale", reported_status="FAILED")]
    first, second = plan(batch, POLICY, mode=Mode.STALE_ONLY)
    assert first.outcome is Outcome.SKIPPED_SETTLED and second.action is Action.WRITE


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"delivery_status": "delivered", "reported_status": "SENT"}, Outcome.ALREADY_REPORTED),
        ({"delivery_status": "read", "reportedStatus": "read"}, Outcome.ALREADY_REPORTED),
        ({"reported_status": "FAILED"}, Outcome.ALREADY_REPORTED),  # stale, already marked by an earlier run
        ({"delivery_status": "delivered", "reported_status": "FAILED"}, None),  # a late receipt: corrected
        ({"delivery_status": "failed", "reported_status": "READ"}, Outcome.SKIPPED_READ_IN_HUBSPOT),
        ({"reported_status": "READ"}, Outcome.SKIPPED_READ_IN_HUBSPOT),
    ],
)
def test_what_the_bridge_reported_costs_no_request(extra: dict[str, Any], expected: Outcome | None) -> None:
    (decision,) = plan([row("m", **extra)], POLICY, mode=Mode.TWO_WAY)
    assert decision.outcome is expected
    assert (decision.action is Action.WRITE) is (expected is None)


def test_explicit_updates_are_decided_row_by_row_and_the_last_row_of_a_message_wins() -> None:
    updates = [
        {"channel_id": 1, "message_id": "a", "status_type": "SENT"},
        {"channelId": "1", "messageId": "b", "statusType": "failed", "errorMessage": "Bounced."},
        {"channel_id": 1, "message_id": "a", "status_type": "READ"},
        {"channel_id": 1, "message_id": "c", "status_type": "RECEIVED"},
        {"channel_id": 1, "message_id": "d", "status_type": "SENT", "error_message": "x"},
        "not an object",
        {"channel_id": 1, "message_id": "e", "status_type": "READ", "overwrite_read": True},
    ]
    decisions = list(iter_updates(updates))
    assert [d.index for d in decisions] == list(range(7))
    assert decisions[0].outcome is Outcome.SKIPPED_DUPLICATE and "updates[2]" in decisions[0].reason
    assert decisions[1].target == Target("FAILED", "Bounced.", Cause.EXPLICIT)
    assert decisions[2].target == Target("READ", None, Cause.EXPLICIT)
    assert [d.outcome for d in decisions[3:6]] == [Outcome.INVALID] * 3
    assert "updates[3].status_type" in decisions[3].reason and "updates[4].error_message" in decisions[4].reason
    assert decisions[6].target is not None and decisions[6].target.overwrite_read
    (only,) = iter_updates([{"channel_id": 1, "message_id": "a", "status_type": "SENT"}], overwrite_read=True)
    assert only.target is not None and only.target.overwrite_read


def test_an_update_batch_that_is_not_a_list_fails_at_once() -> None:
    with pytest.raises(InvalidInputError, match="updates"):
        iter_updates({"channel_id": 1})


def test_an_explicit_failed_without_a_text_keeps_the_reason_hubspot_shows() -> None:
    # A bare FAILED must not erase the explanation agents read (review).
    bare = Target("FAILED", None, Cause.EXPLICIT)
    assert judge(bare, hubspot("FAILED", "Carrier: number unreachable")).outcome is Outcome.ALREADY_CORRECT
    assert judge(bare, hubspot("SENT")).outcome is Outcome.MARKED_FAILED


def test_only_threads_with_several_messages_of_the_batch_are_listed() -> None:
    # A listing answers up to 100 messages: worth it for two or more of the batch, not for one (review: a lone
    # message of a long thread cost a listing of three pages and then its GET anyway).
    batch = [
        row("a1", conversations_thread_id=7001),
        row("a2", conversations_thread_id="7001"),
        row("b1", conversations_thread_id=7002),
        row("c1"),
    ]
    decisions = plan(batch, POLICY, mode=Mode.TWO_WAY)
    assert [d.thread_id for d in decisions] == ["7001", "7001", None, None]
