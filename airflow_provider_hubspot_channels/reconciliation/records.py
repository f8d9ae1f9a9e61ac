"""Message records: one row of the integrator's delivery store, validated into a :class:`MessageRecord`.

Decisions:

* Keys are read in any spelling that :func:`snake_case` maps to a field: ``delivery_status``,
  ``deliveryStatus``, ``DELIVERY_STATUS``, ``delivery-status`` and ``Delivery Status`` are one field. A row
  giving two spellings with different values is invalid: we cannot know which one is right. A receipt under an
  unusual spelling must never be missed, because a missing receipt means ``pending`` and then FAILED.
* An unknown key that looks like a missing core field (``mesage_id``, ``delivery_satus``; difflib ratio of
  at least 0.85) makes the row invalid, naming the key and the field: read as absent, a misspelt receipt fails
  open. Next to the real field such a key is ordinary context.
* ``delivery_status`` is the integrator's own receipt (``pending``, ``delivered``, ``read``, ``failed``,
  any case); missing, null or blank means ``pending`` (no receipt recorded yet).
* ``reported_status`` is what the bridge last reported to HubSpot (``SENT``, ``READ``, ``FAILED``; blank means
  nothing); ``receipt_at`` when the receipt arrived; ``conversations_thread_id`` HubSpot's thread (all optional).
* Timestamps follow :mod:`.timestamps`: offset-less or naive ones are refused, never guessed.
* Other keys become the record's ``context`` (keys in snake_case, values as text): ``recipient`` and
  ``carrier_error`` feed the explanation agents read; the rest travels along for the integrator. Null and
  blank values are dropped, numbers become text, nested values are ignored (so a whole webhook row fits).
* Lone UTF-16 surrogates (half an emoji, as JavaScript's JSON output may hold) make a ``message_id`` invalid
  (replacing them would name another message); in free text they become U+FFFD, so every report row can
  be written as UTF-8.
* Invalid rows are collected as :class:`InvalidRecord` and reported; valid rows proceed. One malformed
  webhook row must not keep agents from learning about the other failed messages. The operator fails the
  task after the batch when any row was invalid, so the bad data is still noticed.
"""

from __future__ import annotations

import difflib
import functools
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
from airflow_provider_hubspot_channels.validation import (
    replace_lone_surrogates,
    shown,
    validate_channel_id,
    validate_message_id,
    validate_portal_id,
    validate_status_type,
)


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
    :param reported_status: what the bridge last reported to HubSpot (``SENT``, ``READ``, ``FAILED``), if known.
    :param receipt_at: when the carrier's receipt arrived, aware UTC, if known.
    :param thread_id: HubSpot's ``conversationsThreadId``, if known (verify by thread).
    :param portal_id: the HubSpot account (``portalId``) the message belongs to, as decimal text; None means the
        task connection's own account.
    """

    index: int
    channel_id: int
    message_id: str
    created_at: datetime
    delivery_status: DeliveryStatus
    # Excluded from the hash: a mapping is not hashable, and the ids already identify the record.
    context: Mapping[str, str] = field(default_factory=dict, hash=False)
    reported_status: str | None = None
    receipt_at: datetime | None = None
    thread_id: str | None = None
    portal_id: str | None = None


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """A batch row that could not be used, kept for the report.

    :param index: position in the input batch.
    :param field: the key at fault, e.g. ``messages[3].created_at``.
    :param problem: what is wrong.
    :param fix: what to send instead.
    :param channel_id: the channel id as given (text), if any.
    :param message_id: the message id as given (text), if any.
    :param portal_id: the account the row names, when that much of it can be read.
    """

    index: int
    field: str
    problem: str
    fix: str
    channel_id: str | None
    message_id: str | None
    portal_id: str | None = None


#: Explanation fields validated as text because they end up in the message agents read.
EXPLANATION_KEYS = ("recipient", "carrier_error")

_CORE_KEYS = {
    "channel_id": "channelId",
    "message_id": "messageId",
    "created_at": "createdAt",
    "delivery_status": "deliveryStatus",
    "reported_status": "reportedStatus",
    "receipt_at": "receiptAt",
    "conversations_thread_id": "conversationsThreadId",
    "portal_id": "portalId",
}
_CORE_NAMES = tuple(_CORE_KEYS)
_KNOWN_BY_LETTERS = {name.replace("_", ""): name for name in (*_CORE_KEYS, *EXPLANATION_KEYS)}
# An unknown key this similar (difflib ratio) to a missing core field is taken for a misspelling of it:
# 'mesage_id' and 'delivery_satus' match, HubSpot's 'created_by' (0.8) and 'channel_account_id' do not.
_NEAR_MISS_RATIO = 0.85
_NEAR_MISS_MAX_CHARS = 64
_MAX_INT_BITS = 4096
_STATUS_BY_TEXT = {status.value: status for status in DeliveryStatus}
#: Keys under which a store may keep a receipt by another name; with a settled value they must not be ignored.
_RECEIPT_LIKE_KEYS = frozenset({"status", "state", "receipt", "delivery", "delivery_state"})
_SETTLED_WORDS = frozenset(status.value for status in DeliveryStatus if status is not DeliveryStatus.PENDING)
_ALLOWED_STATUSES = ", ".join(_STATUS_BY_TEXT)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_EMPTY_CONTEXT: Mapping[str, str] = MappingProxyType({})
T = TypeVar("T")


def parse_record(raw: Mapping[str, Any], index: int) -> MessageRecord:
    """Validate one batch row; raises :class:`InvalidInputError` naming e.g. ``messages[3].created_at``.

    :param raw: the row, with keys in any spelling that :func:`snake_case` maps to a field name.
    :param index: its position in the batch.
    """
    prefix = f"messages[{index}]"
    if not isinstance(raw, Mapping):
        raise InvalidInputError(
            prefix,
            f"{type(raw).__name__} is not an object",
            "send each message as an object with channel_id, message_id and created_at",
        )
    core, extra = _split(raw)
    _refuse_near_misses(core, extra, prefix)
    channel_id = _required(core, "channel_id", prefix, _channel_id, "the numeric id of the custom channel")
    message_id = _required(core, "message_id", prefix, _message_id, "the message id from HubSpot's webhook")
    created_at = _required(core, "created_at", prefix, _created_at, "when the message was sent (its createdAt)")
    status = _lookup(core, "delivery_status", prefix, _delivery_status)
    return MessageRecord(
        index=index,
        channel_id=channel_id,
        message_id=message_id,
        created_at=created_at,
        delivery_status=status if status is not None else DeliveryStatus.PENDING,
        context=_context(extra, prefix),
        reported_status=_lookup(core, "reported_status", prefix, _reported_status) or None,
        receipt_at=_lookup(core, "receipt_at", prefix, _created_at),
        thread_id=_lookup(core, "conversations_thread_id", prefix, _thread_id) or None,
        portal_id=_lookup(core, "portal_id", prefix, _portal_id) or None,
    )


def portal_id_of(raw: Mapping[str, Any], prefix: str = "") -> str | None:
    """The account a row names, read exactly as :func:`parse_record` reads it (any spelling of ``portal_id``;
    spellings that disagree are an error), or None for the connection's account. For stores and tools that file rows
    by account: one reading everywhere, so a row is never filed under one account and sent to another.

    :param raw: the row.
    :param prefix: where the row is, for the error's field, e.g. ``messages[3]`` (none: the field alone).
    """
    core, extra = _split(raw)
    try:
        if "portal_id" not in core:  # a misspelt account key read as absent would send the row with another token
            _refuse_near_misses(core, extra, prefix, only="portal_id")
        return _lookup(core, "portal_id", prefix, _portal_id) or None
    except InvalidInputError as exc:
        raise InvalidInputError(exc.field.lstrip("."), exc.problem, exc.fix) from None


def parse_batch(raw: Any) -> tuple[list[MessageRecord], list[InvalidRecord]]:
    """Split a batch into valid records and invalid rows, both in input order.

    :param raw: a list (or other sequence) of message objects, or a JSON string of one, as XCom or templating
        may render it. Anything else raises :class:`InvalidInputError` for ``messages`` at once.
    """
    rows = batch_rows(raw)
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
                    portal_id=readable_portal_id(row),
                )
            )
    return records, invalid


def batch_rows(raw: Any) -> Sequence[Any]:
    """The rows of a batch as the operators take it: a list, another sequence (a lazy XCom one), or a JSON string of a
    list; anything else raises :class:`InvalidInputError` for ``messages``.

    :param raw: the batch.
    """
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


def _split(raw: Mapping[str, Any]) -> tuple[dict[str, list[tuple[str, Any]]], list[tuple[str, str, Any]]]:
    """Return the core fields given (name -> non-null ``(key, value)`` in row order) and the other keys."""
    core: dict[str, list[tuple[str, Any]]] = {}
    extra: list[tuple[str, str, Any]] = []
    for key, value in raw.items():
        if not isinstance(key, str):
            continue
        name = _name(key)
        if name in _CORE_KEYS:
            if value is not None:
                core.setdefault(name, []).append((key, value))
        else:
            extra.append((name, key, value))
    return core, extra


def _refuse_near_misses(
    core: Mapping[str, list[tuple[str, Any]]], extra: list[tuple[str, str, Any]], prefix: str, *, only: str = ""
) -> None:
    """Refuse a row whose unknown key looks like a missing core field: read as absent, it could fail open.

    :param only: look for near misses of this field alone (none: of every core field, and receipts).
    """
    for name, key, value in extra:
        if value is None:
            continue
        if not only and "delivery_status" not in core and _looks_like_a_receipt(name, value):
            shown_key = replace_lone_surrogates(key)
            raise InvalidInputError(
                f"{prefix}.{shown_key}",
                f"{shown_key}={shown(value)} looks like a delivery receipt, but delivery_status is missing "
                "(did you mean delivery_status?)",
                f"rename {shown_key} to delivery_status, or drop it if it is not the carrier's receipt",
            )
        field_name = _near_core_field(name)
        if field_name is not None and field_name not in core and only in ("", field_name):
            shown_key = replace_lone_surrogates(key)
            raise InvalidInputError(
                f"{prefix}.{shown_key}",
                f"unknown key {shown(key)} looks like {field_name}, which is missing (did you mean {field_name}?)",
                f"rename {shown_key} to {field_name} (or {_CORE_KEYS[field_name]})",
            )


def _looks_like_a_receipt(name: str, value: Any) -> bool:
    """A ``status``-like key holding a receipt word: read as absent, the receipt would fail open (pending, FAILED)."""
    if name not in _RECEIPT_LIKE_KEYS and not name.endswith("_status"):
        return False
    return isinstance(value, str) and value.strip().lower() in _SETTLED_WORDS


def _near_core_field(name: str) -> str | None:
    # A key far longer than every field name cannot be a near miss; skipping it keeps the cache small.
    return _near_core_field_cached(name) if len(name) <= _NEAR_MISS_MAX_CHARS else None


@functools.lru_cache(maxsize=1024)
def _near_core_field_cached(name: str) -> str | None:
    # Cached: the same few keys come back in every row of a 100,000-row batch.
    matches = difflib.get_close_matches(name, _CORE_NAMES, n=1, cutoff=_NEAR_MISS_RATIO)
    return matches[0] if matches else None


def _lookup(
    core: Mapping[str, list[tuple[str, Any]]], snake: str, prefix: str, convert: Callable[[Any, str], T]
) -> T | None:
    """Read a core field under any spelling (None if absent); spellings that disagree are an error."""
    given = core.get(snake)
    if not given:
        return None
    first_key, first_raw = given[0]
    value = convert(first_raw, _field(prefix, first_key))
    for key, raw_value in given[1:]:
        if convert(raw_value, _field(prefix, key)) != value:
            raise InvalidInputError(
                f"{prefix}.{snake}",
                f"{_field('', first_key)[1:]}={shown(first_raw)} and {_field('', key)[1:]}={shown(raw_value)} disagree",
                "send one spelling, or the same value under both",
            )
    return value


def _required(
    core: Mapping[str, list[tuple[str, Any]]], snake: str, prefix: str, convert: Callable[[Any, str], T], what: str
) -> T:
    value = _lookup(core, snake, prefix, convert)
    if value is None:
        camel = _CORE_KEYS[snake]
        raise InvalidInputError(f"{prefix}.{snake}", "it is missing", f"add {snake} (or {camel}): {what}")
    return value


def _field(prefix: str, key: str) -> str:
    # Keys are quoted in field names as given, minus broken surrogates: the report must stay writable.
    return f"{prefix}.{replace_lone_surrogates(key)}"


def _channel_id(value: Any, field_name: str) -> int:
    return validate_channel_id(value, field=field_name)


def _message_id(value: Any, field_name: str) -> str:
    return validate_message_id(value, field=field_name)


def _created_at(value: Any, field_name: str) -> datetime:
    return parse_timestamp(value, field=field_name)


def _reported_status(value: Any, field_name: str) -> str:
    """What the bridge last reported to HubSpot; blank, or HubSpot's own RECEIVED, means nothing ('' is absent)."""
    if isinstance(value, str) and (not value.strip() or value.strip().upper() == "RECEIVED"):
        return ""
    return validate_status_type(value, field=field_name)


def _thread_id(value: Any, field_name: str) -> str:
    """HubSpot's thread id (digits, an int64), or '' for anything else.

    The thread only lets verification read a conversation's messages with one listing; a record is never refused
    over it, and without a usable id its message is read on its own.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
        return str(value)
    text = value.strip() if isinstance(value, str) else ""
    if text and len(text) <= 19 and text.isascii() and text.isdigit() and int(text) > 0:
        return text
    return ""


def _portal_id(value: Any, field_name: str) -> str:
    """HubSpot's account id (``portalId``: an int, or digits as text, as webhooks send it) as decimal text; blank is
    absent (''). Anything else is refused: a record must never be written with another account's token."""
    return validate_portal_id(value, field=field_name)


def _delivery_status(value: Any, field_name: str) -> DeliveryStatus:
    if not isinstance(value, str):
        raise InvalidInputError(field_name, f"{shown(value)} is not text", f"use one of: {_ALLOWED_STATUSES}")
    text = value.strip().lower()
    if not text:
        return DeliveryStatus.PENDING
    status = _STATUS_BY_TEXT.get(text)
    if status is None:
        # 'sent' usually means handed to the carrier, which is exactly what is not yet confirmed.
        hint = "; 'sent' without a receipt is pending" if text == "sent" else ""
        raise InvalidInputError(
            field_name, f"{shown(value)} is not a delivery status{hint}", f"use one of: {_ALLOWED_STATUSES}"
        )
    return status


def _context(extra: list[tuple[str, str, Any]], prefix: str) -> Mapping[str, str]:
    context: dict[str, str] = {}
    given_as: dict[str, str] = {}
    for name, key, value in extra:
        if value is None:
            continue
        text = _text(value)
        if text is None:
            if name in EXPLANATION_KEYS:
                raise InvalidInputError(
                    _field(prefix, key),
                    f"{shown(value) if _is_scalar(value) else type(value).__name__} is not text",
                    f"pass {name} as text, or leave it out",
                )
            continue
        text = text.strip()
        if not text:
            continue
        if name in context and context[name] != text:
            raise InvalidInputError(
                _field(prefix, key),
                f"{_field('', given_as[name])[1:]}={shown(context[name])} and "
                f"{_field('', key)[1:]}={shown(text)} disagree",
                "send one spelling, or the same value under both",
            )
        context[name] = text
        given_as[name] = key
    return MappingProxyType(context) if context else _EMPTY_CONTEXT


def _text(value: Any) -> str | None:
    """Return a scalar as UTF-8-safe text (lone surrogates become U+FFFD), or None when it has none."""
    if not _is_scalar(value):
        return None
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        # str() refuses integers of more than 4,300 digits; no real context value is that long.
        return None
    return replace_lone_surrogates(str(value))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def snake_case(key: str) -> str:
    """Return ``key`` in snake_case: ``carrierError``, ``CARRIER_ERROR`` and ``Carrier Error`` become ``carrier_error``.

    Every character but ASCII letters and digits separates words, so the result is plain ASCII.

    :param key: a record key as given.
    """
    return _NON_WORD.sub("_", _CAMEL_BOUNDARY.sub("_", key)).strip("_").lower()


def _name(key: str) -> str:
    return _name_cached(key) if len(key) <= _NEAR_MISS_MAX_CHARS else snake_case(key)


@functools.lru_cache(maxsize=1024)
def _name_cached(key: str) -> str:
    name = snake_case(key)
    # 'DELIVERYSTATUS' and 'Messageid' carry no word boundary to find; without underscores they still match.
    return _KNOWN_BY_LETTERS.get(name.replace("_", ""), name)


def readable_portal_id(row: Any) -> str | None:
    """The account an invalid row names, for its report row and the fan-out (None when that too cannot be read).

    :param row: the row, of any type.
    """
    if not isinstance(row, Mapping):
        return None
    try:
        return portal_id_of(row)
    except InvalidInputError:
        return None


def _raw_id(row: Any, snake: str) -> str | None:
    """The id as given under any spelling, for the report of an invalid row."""
    if not isinstance(row, Mapping):
        return None
    for key, value in row.items():
        if isinstance(key, str) and _name(key) == snake:
            text = _text(value)
            if text is not None:
                return text
    return None
