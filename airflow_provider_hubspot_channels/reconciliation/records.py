"""Message records: one row of the integrator's delivery store, validated into a :class:`MessageRecord`.

Decisions:

* Keys may be snake_case (``channel_id``, ``message_id``, ``created_at``, ``delivery_status``) or
  HubSpot's camelCase (``channelId``, ...). A row giving both spellings with different values is invalid:
  we cannot know which one is right.
* ``delivery_status`` is the integrator's own receipt (``pending``, ``delivered``, ``read``, ``failed``,
  any case); missing, null or blank means ``pending`` (no receipt recorded yet).
* Timestamps follow :mod:`.timestamps`: offset-less or naive ones are refused, never guessed.
* Other keys become the record's ``context`` (keys in snake_case, values as text): ``recipient`` and
  ``carrier_error`` feed the explanation agents read; the rest travels along for the integrator. Null and
  blank values are dropped, numbers become text, nested values are ignored (so a whole webhook row fits).
* Invalid rows are collected as :class:`InvalidRecord` and reported; valid rows proceed. One malformed
  webhook row must not keep agents from learning about the other failed messages. The operator fails the
  task after the batch when any row was invalid, so the bad data is still noticed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Any, TypeVar

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation.timestamps import parse_timestamp
from airflow_provider_hubspot_channels.validation import validate_channel_id, validate_message_id


class DeliveryStatus(str, Enum):
    """What the integrator knows about delivery to the recipient.

    ``PENDING`` means no receipt yet; the other values settle the message and it is never marked FAILED by us.
    """

    PENDING = "pending"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One valid message to reconcile.

    :param index: position in the input batch (``messages[index]``).
    :param channel_id: the custom channel (positive int32).
    :param message_id: HubSpot's message id, opaque.
    :param created_at: when the message was sent, aware UTC.
    :param delivery_status: the integrator's receipt status.
    :param context: optional text fields keyed snake_case, e.g. ``recipient`` and ``carrier_error``.
    """

    index: int
    channel_id: int
    message_id: str
    created_at: datetime
    delivery_status: DeliveryStatus
    # Excluded from the hash: a mapping is not hashable, and the ids already identify the record.
    context: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A batch row that could not be used, kept for the report.

    :param index: position in the input batch.
    :param field: the key at fault, e.g. ``messages[3].created_at``.
    :param problem: what is wrong.
    :param fix: what to send instead.
    :param channel_id: the channel id as given (text), if any.
    :param message_id: the message id as given (text), if any.
    """

    index: int
    field: str
    problem: str
    fix: str
    channel_id: str | None
    message_id: str | None


#: Explanation fields validated as text because they end up in the message agents read.
EXPLANATION_KEYS = ("recipient", "carrier_error")

_CORE_KEYS = {
    "channel_id": "channelId",
    "message_id": "messageId",
    "created_at": "createdAt",
    "delivery_status": "deliveryStatus",
}
_ALL_CORE_SPELLINGS = frozenset(_CORE_KEYS) | frozenset(_CORE_KEYS.values())
_STATUS_BY_TEXT = {status.value: status for status in DeliveryStatus}
_ALLOWED_STATUSES = ", ".join(_STATUS_BY_TEXT)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_EMPTY_CONTEXT: Mapping[str, str] = MappingProxyType({})
T = TypeVar("T")


def parse_record(raw: Mapping[str, Any], index: int) -> MessageRecord:
    """Validate one batch row; raises :class:`InvalidInputError` naming e.g. ``messages[3].created_at``.

    :param raw: the row, with snake_case or camelCase keys.
    :param index: its position in the batch.
    """
    prefix = f"messages[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidInputError(
            prefix,
            f"{type(raw).__name__} is not an object",
            "send each message as an object with channel_id, message_id and created_at",
        )
    channel_id = _required(raw, "channel_id", prefix, _channel_id, "the numeric id of the custom channel")
    message_id = _required(raw, "message_id", prefix, _message_id, "the message id from HubSpot's webhook")
    created_at = _required(raw, "created_at", prefix, _created_at, "when the message was sent (its createdAt)")
    status = _lookup(raw, "delivery_status", prefix, _delivery_status)
    return MessageRecord(
        index=index,
        channel_id=channel_id,
        message_id=message_id,
        created_at=created_at,
        delivery_status=status if status is not None else DeliveryStatus.PENDING,
        context=_context(raw, prefix),
    )


def parse_batch(raw: Any) -> tuple[list[MessageRecord], list[InvalidRecord]]:
    """Split a batch into valid records and invalid rows, both in input order.

    :param raw: a list (or other sequence) of message objects, or a JSON string of one, as XCom or templating
        may render it. Anything else raises :class:`InvalidInputError` for ``messages`` at once.
    """
    rows = _rows(raw)
    records: list[MessageRecord] = []
    invalid: list[InvalidRecord] = []
    for index, row in enumerate(rows):
        try:
            records.append(parse_record(row, index))
        except InvalidInputError as error:
            invalid.append(
                InvalidRecord(
                    index=index,
                    field=error.field,
                    problem=error.problem,
                    fix=error.fix,
                    channel_id=_raw_id(row, "channel_id"),
                    message_id=_raw_id(row, "message_id"),
                )
            )
    return records, invalid


def _rows(raw: Any) -> Sequence[Any]:
    fix = "pass a list of message objects, e.g. [{'channel_id': 1234, 'message_id': 'm1', 'created_at': ...}]"
    if isinstance(raw, str):
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise InvalidInputError("messages", "it is a string that is not a JSON array", fix) from None
        if not isinstance(decoded, list):
            raise InvalidInputError("messages", f"the JSON is a {type(decoded).__name__}, not an array", fix)
        return decoded
    if isinstance(raw, Mapping):
        raise InvalidInputError(
            "messages", "it is a single object, not a list", "wrap it in a list, or pass the list it contains"
        )
    # Any sequence: Airflow may hand over a lazy XCom sequence instead of a list.
    if isinstance(raw, Sequence) and not isinstance(raw, (bytes, bytearray)):
        return raw
    shown = "None" if raw is None else type(raw).__name__
    raise InvalidInputError("messages", f"{shown} is not a list of messages", fix)


def _lookup(raw: Mapping[str, Any], snake: str, prefix: str, convert: Callable[[Any, str], T]) -> T | None:
    """Read a core field under either spelling (None if absent); both given and disagreeing is an error."""
    camel = _CORE_KEYS[snake]
    snake_value = raw.get(snake)
    camel_value = raw.get(camel)
    if camel_value is None:
        return None if snake_value is None else convert(snake_value, f"{prefix}.{snake}")
    value = convert(camel_value, f"{prefix}.{camel}")
    if snake_value is not None and convert(snake_value, f"{prefix}.{snake}") != value:
        raise InvalidInputError(
            f"{prefix}.{snake}",
            f"{snake}={snake_value!r} and {camel}={camel_value!r} disagree",
            "send one spelling, or the same value under both",
        )
    return value


def _required(raw: Mapping[str, Any], snake: str, prefix: str, convert: Callable[[Any, str], T], what: str) -> T:
    value = _lookup(raw, snake, prefix, convert)
    if value is None:
        camel = _CORE_KEYS[snake]
        raise InvalidInputError(f"{prefix}.{snake}", "it is missing", f"add {snake} (or {camel}): {what}")
    return value


def _channel_id(value: Any, field_name: str) -> int:
    return validate_channel_id(value, field=field_name)


def _message_id(value: Any, field_name: str) -> str:
    return validate_message_id(value, field=field_name)


def _created_at(value: Any, field_name: str) -> datetime:
    return parse_timestamp(value, field=field_name)


def _delivery_status(value: Any, field_name: str) -> DeliveryStatus:
    if not isinstance(value, str):
        raise InvalidInputError(field_name, f"{value!r} is not text", f"use one of: {_ALLOWED_STATUSES}")
    text = value.strip().lower()
    if not text:
        return DeliveryStatus.PENDING
    status = _STATUS_BY_TEXT.get(text)
    if status is None:
        # 'sent' usually means handed to the carrier, which is exactly what is not yet confirmed.
        hint = "; 'sent' without a receipt is pending" if text == "sent" else ""
        raise InvalidInputError(
            field_name, f"{value!r} is not a delivery status{hint}", f"use one of: {_ALLOWED_STATUSES}"
        )
    return status


def _context(raw: Mapping[str, Any], prefix: str) -> Mapping[str, str]:
    context: dict[str, str] = {}
    given_as: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or key in _ALL_CORE_SPELLINGS:
            continue
        name = snake_case(key)
        if name in EXPLANATION_KEYS and value is not None and not _is_scalar(value):
            raise InvalidInputError(
                f"{prefix}.{key}",
                f"{type(value).__name__} is not text",
                f"pass {name} as text, or leave it out",
            )
        if not _is_scalar(value):
            continue
        text = str(value).strip()
        if not text:
            continue
        if name in context and context[name] != text:
            raise InvalidInputError(
                f"{prefix}.{key}",
                f"{given_as[name]}={context[name]!r} and {key}={text!r} disagree",
                "send one spelling, or the same value under both",
            )
        context[name] = text
        given_as[name] = key
    return MappingProxyType(context) if context else _EMPTY_CONTEXT


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def snake_case(key: str) -> str:
    """Return ``key`` in snake_case: ``carrierError`` and ``Carrier-Error`` both become ``carrier_error``.

    :param key: a record key as given.
    """
    return _NON_WORD.sub("_", _CAMEL_BOUNDARY.sub("_", key)).strip("_").lower()


def _raw_id(row: Any, snake: str) -> str | None:
    if not isinstance(row, Mapping):
        return None
    for key in (snake, _CORE_KEYS[snake]):
        value = row.get(key)
        if _is_scalar(value):
            return str(value)
    return None
