"""Record keys (issue 12): every spelling of a core field is read, ambiguity and near-misses are refused.

A missing receipt means ``pending``, and a pending message past its SLA is marked FAILED: a receipt that is there
but not read must never fail open.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation import DeliveryStatus, parse_batch, parse_record

BASE: dict[str, Any] = {"channel_id": 1234, "message_id": "m-1", "created_at": "2026-11-24T10:00:00Z"}


@pytest.mark.parametrize("key", ["DeliveryStatus", "DELIVERY_STATUS", "delivery-status", "Delivery Status"])
def test_every_spelling_of_delivery_status_is_read(key: str) -> None:
    record = parse_record({**BASE, key: "delivered"}, 0)
    assert record.delivery_status is DeliveryStatus.DELIVERED
    assert record.context == {}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"ChannelId": "77", "MESSAGE_ID": "m-9", "Created-At": "2026-11-24T10:00:00Z"}, (77, "m-9")),
        ({"channel id": 77, "messageID": "m-9", "CreatedAt": 1795514400000}, (77, "m-9")),
    ],
)
def test_every_spelling_of_the_required_fields_is_read(raw: dict[str, Any], expected: tuple[int, str]) -> None:
    record = parse_record(raw, 0)
    assert (record.channel_id, record.message_id) == expected
    assert record.context == {}


def test_two_spellings_that_disagree_are_ambiguous() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_record({**BASE, "delivery_status": "pending", "DELIVERY_STATUS": "read"}, 4)
    assert caught.value.field == "messages[4].delivery_status"
    assert "DELIVERY_STATUS" in caught.value.problem
    assert "disagree" in caught.value.problem


def test_two_spellings_that_agree_are_fine() -> None:
    record = parse_record({**BASE, "Delivery Status": "READ", "deliveryStatus": "read", "Message-Id": "m-1"}, 0)
    assert record.delivery_status is DeliveryStatus.READ


def test_conversion_errors_name_the_spelling_given() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_record({**BASE, "DELIVERY_STATUS": "bounced"}, 2)
    assert caught.value.field == "messages[2].DELIVERY_STATUS"


def test_invalid_rows_keep_ids_given_under_any_spelling() -> None:
    _, invalid = parse_batch([{"Channel-Id": 77, "MESSAGE_ID": "x-1", "createdAt": "bad"}])
    assert (invalid[0].channel_id, invalid[0].message_id) == ("77", "x-1")


def test_a_misspelt_required_field_is_named_in_the_missing_error() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_record({"channel_id": 1, "mesage_id": "m-1", "created_at": "2026-11-24T10:00:00Z"}, 3)
    assert caught.value.field == "messages[3].mesage_id"
    assert "message_id" in caught.value.problem
    assert "rename mesage_id to message_id" in caught.value.fix


@pytest.mark.parametrize("key", ["delivery_satus", "deliveryStatsu", "Delivery_State"])
def test_a_misspelt_delivery_status_makes_the_record_invalid(key: str) -> None:
    # Read as pending, this row would be marked FAILED though the integrator recorded a receipt.
    with pytest.raises(InvalidInputError) as caught:
        parse_record({**BASE, key: "delivered"}, 1)
    assert caught.value.field == f"messages[1].{key}"
    assert "delivery_status" in caught.value.problem


def test_a_near_miss_next_to_the_real_field_is_just_context() -> None:
    record = parse_record({**BASE, "delivery_status": "read", "delivery_state": "ok"}, 0)
    assert record.delivery_status is DeliveryStatus.READ
    assert record.context == {"delivery_state": "ok"}


@pytest.mark.parametrize("key", ["createdBy", "channelAccountId", "conversationsThreadId", "status", "message"])
def test_ordinary_webhook_keys_are_not_mistaken_for_core_fields(key: str) -> None:
    record = parse_record({**BASE, key: "x"}, 0)
    assert record.delivery_status is DeliveryStatus.PENDING


def test_a_misspelt_delivery_status_with_null_says_nothing_and_is_ignored() -> None:
    record = parse_record({**BASE, "delivery_satus": None}, 0)
    assert record.delivery_status is DeliveryStatus.PENDING


def test_lone_surrogate_in_message_id_makes_the_record_invalid() -> None:
    raw = json.loads('{"channel_id": 1, "message_id": "m-\\ud83d", "created_at": "2026-11-24T10:00:00Z"}')
    _, invalid = parse_batch([raw])
    assert invalid[0].field == "messages[0].message_id"
    assert "surrogate" in invalid[0].problem
    # The report keeps the id as given, with the broken half replaced so the row can be written as UTF-8.
    assert invalid[0].message_id == "m-\ufffd"


def test_lone_surrogates_in_free_text_become_replacement_characters() -> None:
    raw = json.loads('{"recipient": "Ana \\ud83d", "carrier_error": "\\ude00 busy", "note\\ud800": "x\\udfff"}')
    record = parse_record({**BASE, **raw}, 0)
    assert record.context["recipient"] == "Ana \ufffd"
    assert record.context["carrier_error"] == "\ufffd busy"
    assert "x\ufffd" in record.context.values()
    for key, value in record.context.items():
        (key + value).encode("utf-8")


def test_a_whole_emoji_in_free_text_is_kept() -> None:
    record = parse_record({**BASE, "recipient": "Ana \U0001f600"}, 0)
    assert record.context["recipient"] == "Ana \U0001f600"


@pytest.mark.parametrize("key", ["note", "recipient"])
def test_a_number_too_long_for_text_is_not_a_crash(key: str) -> None:
    records, invalid = parse_batch([{**BASE, key: 10**5000}])
    assert len(records) + len(invalid) == 1
    if invalid:
        assert invalid[0].field == f"messages[0].{key}"


@pytest.mark.parametrize("key", ["status", "Status", "receipt", "carrier_status", "deliveryState"])
def test_a_receipt_under_another_name_is_not_read_as_pending(key):
    # {"status": "delivered"} without delivery_status would be pending, then marked FAILED: refuse it, naming both.
    row = {"channel_id": 1, "message_id": "m", "created_at": "2026-11-24T10:00:00Z", key: "delivered"}
    with pytest.raises(InvalidInputError, match="delivery_status"):
        parse_record(row, 0)


def test_a_status_key_beside_delivery_status_or_with_another_value_is_context():
    base = {"channel_id": 1, "message_id": "m", "created_at": "2026-11-24T10:00:00Z"}
    assert parse_record({**base, "status": "delivered", "delivery_status": "delivered"}, 0).delivery_status.value == (
        "delivered"
    )
    assert parse_record({**base, "status": "queued"}, 0).context["status"] == "queued"
