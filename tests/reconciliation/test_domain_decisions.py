"""Planning: one decision per row in input order, duplicate merging, invalid rows, and HubSpot lookups."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.client.errors import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import (
    Action,
    Cause,
    Outcome,
    StalenessPolicy,
    Target,
    hubspot_status_type,
    iter_plan,
    judge,
    plan,
)
from airflow_provider_hubspot_channels.validation import ERROR_MESSAGE_MAX_LENGTH

POLICY = StalenessPolicy(timedelta(minutes=15), datetime(2026, 11, 24, 10, 20, tzinfo=timezone.utc))
STALE_AT = "2026-11-24T10:00:00Z"  # 20 minutes before the reference
FRESH_AT = "2026-11-24T10:16:00Z"  # 4 minutes before the reference


def row(message_id: str, created_at: str = STALE_AT, **extra: Any) -> dict[str, Any]:
    return {"channel_id": 1234, "message_id": message_id, "created_at": created_at, **extra}


def test_each_kind_of_row_gets_its_decision_in_input_order() -> None:
    batch = [
        row("stale", recipient="Ana"),
        row("fresh", FRESH_AT),
        row("delivered", delivery_status="delivered"),
        row("bad", "2026-11-24T10:00:00"),
        row("stale"),
    ]
    decisions = plan(batch, POLICY)
    assert [d.index for d in decisions] == [0, 1, 2, 3, 4]
    assert [(d.action, d.outcome) for d in decisions] == [
        (Action.WRITE, None),
        (Action.SKIP, Outcome.SKIPPED_NOT_STALE),
        (Action.SKIP, Outcome.SKIPPED_SETTLED),
        (Action.SKIP, Outcome.INVALID),
        (Action.SKIP, Outcome.SKIPPED_DUPLICATE),
    ]
    stale, fresh, delivered, bad, duplicate = decisions
    assert stale.reason == "stale: no receipt 20 minutes after sending, SLA 15 minutes"
    assert stale.error_message is not None and "Ana" in stale.error_message
    assert stale.record is not None and stale.channel_id == "1234"
    assert fresh.reason == "fresh: 4 minutes old, SLA 15 minutes"
    assert delivered.reason == "delivered per integrator"
    assert bad.reason.startswith("messages[3].created_at: '2026-11-24T10:00:00' has no UTC offset")
    assert "Fix: add a UTC offset" in bad.reason
    assert (bad.channel_id, bad.message_id, bad.record) == ("1234", "bad", None)
    assert duplicate.reason == "duplicate of messages[0]"
    assert all(d.error_message is None for d in decisions[1:])


def test_invalid_rows_are_decided_in_place_with_the_field_name() -> None:
    decisions = plan([row("a"), row("b") | {"channel_id": "x"}, row("c")], POLICY)
    assert decisions[1].outcome is Outcome.INVALID
    assert decisions[1].reason.startswith("messages[1].channel_id: ")
    assert [d.action for d in decisions] == [Action.WRITE, Action.SKIP, Action.WRITE]


def test_a_receipt_on_a_later_duplicate_settles_the_message() -> None:
    decisions = plan([row("m"), row("x", FRESH_AT), row("m", delivery_status="READ")], POLICY)
    assert decisions[0].outcome is Outcome.SKIPPED_SETTLED
    assert decisions[0].reason == "read per integrator (receipt on duplicate messages[2])"
    assert decisions[2].outcome is Outcome.SKIPPED_DUPLICATE
    assert decisions[2].reason == "duplicate of messages[0]"


def test_the_first_receipt_wins_among_settled_duplicates() -> None:
    decisions = plan([row("m", delivery_status="failed"), row("m", delivery_status="delivered")], POLICY)
    assert decisions[0].reason == "failed per integrator"


def test_the_earliest_created_at_counts_for_duplicates() -> None:
    decisions = plan([row("m", FRESH_AT), row("m", "2026-11-24T09:50:00Z")], POLICY)
    first = decisions[0]
    assert first.action is Action.WRITE
    assert first.record is not None and first.record.index == 0
    assert first.record.created_at == datetime(2026, 11, 24, 9, 50, tzinfo=timezone.utc)
    assert first.error_message is not None and "sent 2026-11-24 09:50 UTC" in first.error_message


def test_a_later_duplicate_fills_context_the_first_row_lacks() -> None:
    decisions = plan([row("m", recipient="Ana"), row("m", recipient="Bob", carrier_error="busy")], POLICY)
    message = decisions[0].error_message
    assert message is not None
    assert "reached Ana;" in message and "Carrier reported: busy." in message


def test_same_message_id_on_another_channel_is_not_a_duplicate() -> None:
    decisions = plan([row("m"), row("m") | {"channel_id": 99}], POLICY)
    assert [d.action for d in decisions] == [Action.WRITE, Action.WRITE]


def test_camel_and_snake_rows_of_the_same_message_are_duplicates() -> None:
    camel = {"channelId": "1234", "messageId": "m", "createdAt": 1795514400000}
    decisions = plan([row("m"), camel], POLICY)
    assert decisions[1].outcome is Outcome.SKIPPED_DUPLICATE


def test_message_sent_after_the_check_time_is_fresh_and_says_so() -> None:
    decision = plan([row("m", "2026-11-24T10:23:00Z")], POLICY)[0]
    assert decision.reason == "fresh: sent 3 minutes after the check time, SLA 15 minutes"


def test_error_messages_respect_the_cap_and_custom_templates() -> None:
    decisions = plan([row("m", carrier_error="e" * 2000)], POLICY)
    assert decisions[0].error_message is not None
    assert len(decisions[0].error_message) <= ERROR_MESSAGE_MAX_LENGTH
    custom = plan([row("m")], POLICY, template="No receipt after {age} (SLA {sla}).")
    assert custom[0].error_message == "No receipt after 20 minutes (SLA 15 minutes)."


def test_a_bad_template_is_refused_before_anything_is_decided() -> None:
    with pytest.raises(InvalidInputError) as caught:
        plan([row("m")], POLICY, template="Failed: {why}")
    assert caught.value.field == "error_message_template"


def test_a_batch_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        plan({"messages": []}, POLICY)
    assert caught.value.field == "messages"


def test_counts_add_up_to_the_batch_size() -> None:
    batch: list[Any] = []
    for number in range(300):
        kind = number % 6
        if kind == 0:
            batch.append(row(f"m{number}"))
        elif kind == 1:
            batch.append(row(f"m{number}", FRESH_AT))
        elif kind == 2:
            batch.append(row(f"m{number}", delivery_status="read"))
        elif kind == 3:
            batch.append(row(f"m{number - 3}"))  # duplicate of a stale row
        elif kind == 4:
            batch.append({"message_id": f"m{number}"})  # invalid
        else:
            batch.append(None)  # invalid: not an object
    decisions = plan(batch, POLICY)
    assert [d.index for d in decisions] == list(range(300))
    kinds = Counter(d.outcome if d.action is Action.SKIP else "mark" for d in decisions)
    assert kinds == {
        "mark": 50,
        Outcome.SKIPPED_NOT_STALE: 50,
        Outcome.SKIPPED_SETTLED: 50,
        Outcome.SKIPPED_DUPLICATE: 50,
        Outcome.INVALID: 100,
    }


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"status": {"statusType": "READ"}}, Outcome.SKIPPED_READ_IN_HUBSPOT),
        ({"status": {"statusType": "FAILED", "failureDetails": {"errorMessage": "x"}}}, Outcome.ALREADY_CORRECT),
        ({"status": {"statusType": "read"}}, Outcome.SKIPPED_READ_IN_HUBSPOT),
        ({"status": {"statusType": "SENT"}}, Outcome.MARKED_FAILED),
        ({"status": {"statusType": "RECEIVED"}}, Outcome.MARKED_FAILED),
        ({"status": {}}, Outcome.MARKED_FAILED),
        ({"status": None}, Outcome.MARKED_FAILED),
        ({"status": "READ"}, Outcome.MARKED_FAILED),
        ({"id": "m"}, Outcome.MARKED_FAILED),
    ],
)
def test_only_read_or_failed_in_hubspot_stops_a_stale_failed(message: dict[str, Any], expected: Outcome) -> None:
    assert judge(Target("FAILED", "Not delivered.", Cause.STALE), message).outcome is expected


def test_hubspot_status_type_is_read_defensively() -> None:
    assert hubspot_status_type({"status": {"statusType": " sent "}}) == "SENT"
    assert hubspot_status_type({"status": {"statusType": ""}}) is None
    assert hubspot_status_type({}) is None


def test_iter_plan_checks_the_batch_at_once_and_decides_one_row_at_a_time() -> None:
    with pytest.raises(InvalidInputError):
        iter_plan({"channel_id": 1234}, POLICY)  # raises before anything is taken from it
    batch = [row("m"), row("bad", "2026-11-24T10:00:00"), row("m"), row("fresh", FRESH_AT)]
    decisions = iter_plan(batch, POLICY)
    first = next(decisions)
    assert first.index == 0 and first.action is Action.WRITE and first.error_message
    rest = list(decisions)
    assert [(d.index, d.outcome) for d in rest] == [
        (1, Outcome.INVALID),
        (2, Outcome.SKIPPED_DUPLICATE),
        (3, Outcome.SKIPPED_NOT_STALE),
    ]
    assert [first, *rest] == plan(batch, POLICY)
