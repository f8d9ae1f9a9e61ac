"""Records and batches: both key spellings, conflicts, defaults, context, and invalid rows kept in place."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.client.errors import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import (
    DeliveryStatus,
    InvalidRecord,
    MessageRecord,
    parse_batch,
    parse_record,
)

SENT = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"channel_id": 1234, "message_id": "m-1", "created_at": "2026-11-24T10:00:00Z"}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not ...}


def test_snake_case_row_becomes_a_pending_record() -> None:
    record = parse_record(row(), 0)
    assert record == MessageRecord(
        index=0,
        channel_id=1234,
        message_id="m-1",
        created_at=SENT,
        delivery_status=DeliveryStatus.PENDING,
        context={},
    )


def test_hubspot_camel_case_keys_are_accepted() -> None:
    raw = {
        "channelId": "1234",
        "messageId": "m-1",
        "createdAt": 1795514400000,
        "deliveryStatus": "Delivered",
        "carrierError": "30003",
    }
    record = parse_record(raw, 4)
    assert (record.index, record.channel_id, record.message_id, record.created_at) == (4, 1234, "m-1", SENT)
    assert record.delivery_status is DeliveryStatus.DELIVERED
    assert record.context == {"carrier_error": "30003"}


def test_both_spellings_that_agree_after_normalising_are_fine() -> None:
    record = parse_record(row(channelId="1234", createdAt="2026-11-24T11:00:00+01:00"), 0)
    assert record.channel_id == 1234
    assert record.created_at == SENT


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channelId": 999}, "messages[3].channel_id"),
        ({"messageId": "m-2"}, "messages[3].message_id"),
        ({"createdAt": "2026-11-24T10:00:01Z"}, "messages[3].created_at"),
        ({"delivery_status": "pending", "deliveryStatus": "read"}, "messages[3].delivery_status"),
    ],
)
def test_conflicting_spellings_are_invalid(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_record(row(**overrides), 3)
    assert caught.value.field == field
    assert "disagree" in caught.value.problem


def test_conflicting_context_spellings_are_invalid() -> None:
    with pytest.raises(InvalidInputError, match="disagree"):
        parse_record(row(carrier_error="busy", carrierError="unreachable"), 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("READ", DeliveryStatus.READ),
        (" failed ", DeliveryStatus.FAILED),
        ("delivered", DeliveryStatus.DELIVERED),
        (None, DeliveryStatus.PENDING),
        ("", DeliveryStatus.PENDING),
        (..., DeliveryStatus.PENDING),
    ],
)
def test_delivery_status_is_case_insensitive_and_defaults_to_pending(value: object, expected: DeliveryStatus) -> None:
    assert parse_record(row(delivery_status=value), 0).delivery_status is expected


@pytest.mark.parametrize("value", ["sent", "bounced", 1])
def test_unknown_delivery_status_names_the_allowed_values(value: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_record(row(delivery_status=value), 5)
    assert caught.value.field == "messages[5].delivery_status"
    assert caught.value.fix == "use one of: pending, delivered, read, failed"


@pytest.mark.parametrize(
    ("missing", "field", "camel"),
    [
        ("channel_id", "messages[2].channel_id", "channelId"),
        ("message_id", "messages[2].message_id", "messageId"),
        ("created_at", "messages[2].created_at", "createdAt"),
    ],
)
def test_missing_required_fields_name_both_spellings(missing: str, field: str, camel: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_record(row(**{missing: ...}), 2)
    assert caught.value.field == field
    assert camel in caught.value.fix


def test_field_names_use_the_spelling_that_was_given() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_record({"channelId": 1, "messageId": "m", "createdAt": "2026-11-24T10:00:00"}, 1)
    assert caught.value.field == "messages[1].createdAt"


def test_context_keeps_text_extras_in_snake_case_and_drops_the_rest() -> None:
    record = parse_record(
        row(
            recipient=" Ana Lima ",
            carrierError=30003,
            conversationsThreadId="t-9",
            note="",
            archived=False,
            message={"text": "hello"},
            attachments=[1, 2],
            missing=None,
        ),
        0,
    )
    assert record.context == {"recipient": "Ana Lima", "carrier_error": "30003"}
    assert record.thread_id is None  # not a thread id HubSpot issues: the message is verified on its own


def test_two_way_fields_are_read_in_any_spelling() -> None:
    record = parse_record(
        row(reportedStatus="sent", receipt_at="2026-11-24T10:05:00Z", conversationsThreadId=8812345678), 0
    )
    assert (record.reported_status, record.thread_id) == ("SENT", "8812345678")
    assert record.receipt_at is not None and record.receipt_at.minute == 5
    assert parse_record(row(reported_status=" "), 0).reported_status is None
    assert parse_record(row(reported_status="RECEIVED"), 0).reported_status is None  # HubSpot's, not a report
    with pytest.raises(InvalidInputError, match="reported_status"):
        parse_record(row(reported_status="DELIVERED"), 0)


def test_explanation_fields_that_are_not_text_are_invalid() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_record(row(carrier_error={"code": 30003}), 6)
    assert caught.value.field == "messages[6].carrier_error"


def test_records_are_immutable_and_hashable() -> None:
    record = parse_record(row(recipient="Ana"), 0)
    with pytest.raises(TypeError):
        record.context["recipient"] = "Bob"  # type: ignore[index]
    assert hash(record) == hash(parse_record(row(recipient="Bob"), 0))


def test_invalid_rows_are_reported_in_place_and_the_rest_proceeds() -> None:
    batch = [row(message_id="a"), row(channel_id="abc", message_id="b"), "oops", row(message_id="d")]
    records, invalid = parse_batch(batch)
    assert [record.index for record in records] == [0, 3]
    assert [record.message_id for record in records] == ["a", "d"]
    assert invalid[0] == InvalidRecord(
        index=1,
        field="messages[1].channel_id",
        problem="'abc' is not a number",
        fix="pass the numeric id of the custom channel, e.g. 1234 or '1234'",
        channel_id="abc",
        message_id="b",
    )
    assert (invalid[1].index, invalid[1].field, invalid[1].channel_id) == (2, "messages[2]", None)
    assert "not an object" in invalid[1].problem


def test_invalid_rows_keep_camel_case_ids_as_given() -> None:
    _, invalid = parse_batch([{"channelId": 77, "messageId": "x-1", "createdAt": "bad"}])
    assert (invalid[0].channel_id, invalid[0].message_id) == ("77", "x-1")


def test_a_json_string_of_a_list_and_a_tuple_are_batches() -> None:
    from_json, _ = parse_batch(json.dumps([row(), row(message_id="m-2")]))
    from_tuple, _ = parse_batch((row(),))
    assert [record.message_id for record in from_json] == ["m-1", "m-2"]
    assert len(from_tuple) == 1


def test_an_empty_batch_is_fine() -> None:
    assert parse_batch([]) == ([], [])


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "None is not a list"),
        (row(), "single object"),
        ("not json", "not a JSON array"),
        ('{"channel_id": 1}', "not an array"),
        (42, "int is not a list"),
        (b"[]", "bytes is not a list"),
    ],
)
def test_a_batch_that_is_not_a_list_is_refused_at_once(raw: object, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_batch(raw)
    assert caught.value.field == "messages"
    assert problem in caught.value.problem
