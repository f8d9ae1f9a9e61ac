"""Explicit status updates: a batch of ``{channel_id, message_id, status_type, error_message?, overwrite_read?}``.

A bridge replaying its receipts after an outage reports what it knows, message by message; this module turns such a
batch into the same :class:`Decision` the reconciliation plan makes, so both share one runner and one set of
transition rules (:mod:`.transitions`). Pure, no I/O.

Decisions:

* Each row is validated like a single update (``build_status_update``); an invalid row is its own ``invalid``
  decision naming ``updates[i].field``, and the rest proceeds.
* Several rows for one message: the last one is written (a replay reports in the order things happened: SENT, then
  READ); the earlier ones are ``skipped_duplicate`` naming the row that superseded them.
* ``overwrite_read`` (per row, else the task's) is the only way to change a message HubSpot shows as READ.
* ``portal_id`` (``portalId``, any spelling message records accept; spellings that disagree make the row invalid)
  names the row's HubSpot account, read by the records' own reader; one message id in two accounts is two
  messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow_provider_hubspot_channels.exceptions import InvalidInputError
from airflow_provider_hubspot_channels.reconciliation.decisions import Action, Decision
from airflow_provider_hubspot_channels.reconciliation.ordering import plan_order
from airflow_provider_hubspot_channels.reconciliation.outcomes import Outcome
from airflow_provider_hubspot_channels.reconciliation.records import portal_id_of, readable_portal_id
from airflow_provider_hubspot_channels.reconciliation.transitions import Cause, Target
from airflow_provider_hubspot_channels.validation import build_status_update, shown

_KEYS = ("channel_id", "message_id", "status_type", "error_message", "overwrite_read")
_CAMEL = {
    "channelId": "channel_id",
    "messageId": "message_id",
    "statusType": "status_type",
    "errorMessage": "error_message",
    "overwriteRead": "overwrite_read",
}
_FIX = "pass a list of objects with channel_id, message_id, status_type and optionally error_message"


def iter_updates(raw: Any, *, overwrite_read: bool = False) -> Iterator[Decision]:
    """One decision per row of an explicit update batch, in :func:`~.ordering.plan_order` (input order for one
    account, round-robin across accounts); raises only for a batch that is no list.

    :param raw: a list (or JSON string of one) of update objects; keys in snake_case or HubSpot's camelCase.
    :param overwrite_read: the task's default for rows without their own ``overwrite_read``.
    """
    return _decisions(_rows(raw), overwrite_read)  # the batch is checked now, before any request


def _decisions(rows: Sequence[Any], overwrite_read: bool) -> Iterator[Decision]:
    parsed: list[Decision] = []
    last_row: dict[tuple[str | None, str, str], int] = {}
    for index, row in enumerate(rows):
        decision = _decide(row, index, overwrite_read)
        parsed.append(decision)
        if decision.action is Action.WRITE:
            last_row[(decision.portal_id, str(decision.channel_id), str(decision.message_id))] = index
    for decision in (parsed[index] for index in plan_order(rows)):
        key = (decision.portal_id, str(decision.channel_id), str(decision.message_id))
        later = last_row.get(key)
        if decision.action is Action.WRITE and later is not None and later != decision.index:
            yield Decision(
                index=decision.index,
                channel_id=decision.channel_id,
                message_id=decision.message_id,
                action=Action.SKIP,
                outcome=Outcome.SKIPPED_DUPLICATE,
                reason=f"superseded by updates[{later}]",
                target=None,
                portal_id=decision.portal_id,
            )
        else:
            yield decision


def _rows(raw: Any) -> Sequence[Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidInputError("updates", "it is a string that is not a JSON array", _FIX) from None
    if isinstance(raw, Sequence) and not isinstance(raw, (str, bytes, bytearray)):
        return raw
    raise InvalidInputError("updates", f"{shown(raw)} is not a list of updates", _FIX)


def _decide(row: Any, index: int, overwrite_read: bool) -> Decision:
    prefix = f"updates[{index}]"
    fields = _fields(row) if isinstance(row, Mapping) else None
    try:
        if fields is None:
            raise InvalidInputError(prefix, f"{type(row).__name__} is not an object", _FIX)
        update = build_status_update(
            fields.get("channel_id"), fields.get("message_id"), fields.get("status_type"), fields.get("error_message")
        )
        overwrite = fields.get("overwrite_read", overwrite_read)
        if not isinstance(overwrite, bool):
            raise InvalidInputError("overwrite_read", f"{shown(overwrite)} is not a boolean", "use true or false")
        # Read as message records read it (any spelling; spellings that disagree are an error): the account decides
        # whose token writes, so a spelling this module ignored would send the row with the connection's token.
        portal_id = portal_id_of(row, prefix)
    except InvalidInputError as exc:
        field = exc.field if exc.field.startswith(prefix) else f"{prefix}.{exc.field}"
        given = fields or {}
        return Decision(
            index=index,
            channel_id=_text(given.get("channel_id")),
            message_id=_text(given.get("message_id")),
            action=Action.SKIP,
            outcome=Outcome.INVALID,
            reason=f"{field}: {exc.problem}. Fix: {exc.fix}",
            target=None,
            portal_id=readable_portal_id(row),  # as invalid message records keep theirs, for the report
        )
    return Decision(
        index=index,
        channel_id=str(update.channel_id),
        message_id=update.message_id,
        action=Action.WRITE,
        outcome=None,
        reason=f"reported {update.status_type}",
        target=Target(update.status_type, update.error_message, Cause.EXPLICIT, overwrite_read=overwrite),
        portal_id=portal_id,
    )


def _fields(row: Mapping[Any, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in row.items():
        name = _CAMEL.get(key, key) if isinstance(key, str) else None
        if name in _KEYS and value is not None:
            fields[name] = value
    return fields


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
