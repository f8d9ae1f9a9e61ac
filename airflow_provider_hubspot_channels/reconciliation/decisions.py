"""Per-message decisions: which messages to mark FAILED in HubSpot and why every other one is skipped.

:func:`plan` is pure: a batch and a policy in, one :class:`Decision` per input row out, in input order, so
the outcome counts of a run always add up to the batch size.

Decisions:

* Duplicates (same ``channel_id`` and ``message_id``) are merged: one decision per distinct message, at its
  first occurrence; later rows are skipped as ``skipped_duplicate`` naming the first row. Webhooks are
  delivered at least once, so the integrator's store can hold a message twice, once with its receipt.
  When the rows disagree, a settled status anywhere wins over ``pending`` (a receipt settles it; among
  receipts the first one counts), the earliest ``created_at`` counts (the first record is closest to the
  real send; a redelivered webhook is recorded later), and context fields missing from the first row are
  taken from later ones.
* Invalid rows become ``invalid`` decisions in place; the rest of the batch proceeds.
* HubSpot's own ``SENT`` does not prove delivery (new outgoing messages may carry it before the integrator
  reports), so only ``READ`` and ``FAILED`` in HubSpot stop a PATCH (:func:`outcome_after_lookup`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

from airflow_provider_hubspot_channels.reconciliation.explanation import (
    DEFAULT_ERROR_MESSAGE_TEMPLATE,
    describe_duration,
    render_error_message,
    validate_template,
)
from airflow_provider_hubspot_channels.reconciliation.policy import StalenessPolicy
from airflow_provider_hubspot_channels.reconciliation.records import (
    DeliveryStatus,
    InvalidRecord,
    MessageRecord,
    parse_batch,
)


class Action(str, Enum):
    """What the runner does with a message."""

    MARK_FAILED = "mark_failed"
    SKIP = "skip"


class Outcome(str, Enum):
    """How a message ended in a run; every input row gets exactly one."""

    MARKED_FAILED = "marked_failed"
    WOULD_MARK_FAILED = "would_mark_failed"
    SKIPPED_NOT_STALE = "skipped_not_stale"
    SKIPPED_SETTLED = "skipped_settled"
    SKIPPED_TERMINAL_IN_HUBSPOT = "skipped_terminal_in_hubspot"
    SKIPPED_DUPLICATE = "skipped_duplicate"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    #: HubSpot refused the write with a final answer (400, 409, 422, ...): a retry would be refused the same way.
    REFUSED = "refused"
    ERROR = "error"
    NOT_ATTEMPTED = "not_attempted"


@dataclass(frozen=True, slots=True)
class Decision:
    """The plan for one input row.

    :param index: position in the input batch.
    :param channel_id: the channel id as text (as given, for invalid rows), or None if missing.
    :param message_id: the message id as given, or None if missing.
    :param action: ``MARK_FAILED`` (the runner PATCHes, unless a lookup says otherwise) or ``SKIP``.
    :param outcome: the final outcome for ``SKIP``; None for ``MARK_FAILED`` until the runner acts.
    :param reason: a short human reason, e.g. ``fresh: 4 minutes old, SLA 15 minutes``.
    :param error_message: the rendered explanation for ``MARK_FAILED``, else None.
    :param record: the (merged) record, None for invalid rows.
    """

    index: int
    channel_id: str | None
    message_id: str | None
    action: Action
    outcome: Outcome | None
    reason: str
    error_message: str | None
    record: MessageRecord | None


#: HubSpot statuses that already tell the agent the truth; a PATCH could only contradict them.
TERMINAL_HUBSPOT_STATUSES = frozenset({"READ", "FAILED"})


def plan(raw_batch: Any, policy: StalenessPolicy, template: str = DEFAULT_ERROR_MESSAGE_TEMPLATE) -> list[Decision]:
    """Decide every row of a batch; raises ``InvalidInputError`` only for a bad batch or template.

    :param raw_batch: a list of message objects (or a JSON string of one), see :func:`parse_batch`.
    :param policy: the run's SLA and reference time.
    :param template: the error message template, see :func:`validate_template`.
    """
    return list(iter_plan(raw_batch, policy, template))


def iter_plan(
    raw_batch: Any, policy: StalenessPolicy, template: str = DEFAULT_ERROR_MESSAGE_TEMPLATE
) -> Iterator[Decision]:
    """Like :func:`plan`, but yields the decisions one by one, in input order.

    The batch and template are checked at once (so a bad batch raises before any request is sent); each decision,
    with its rendered error message, is made only when it is taken, so a 100,000-row batch never holds 100,000
    decisions and messages at the same time.

    :param raw_batch: a list of message objects (or a JSON string of one), see :func:`parse_batch`.
    :param policy: the run's SLA and reference time.
    :param template: the error message template, see :func:`validate_template`.
    """
    validate_template(template)
    records, invalid = parse_batch(raw_batch)
    # First pass: only the duplicate index. Merging needs every row before the first one can be decided.
    merged: dict[tuple[int, str], MessageRecord] = {}
    settled_by: dict[tuple[int, str], int] = {}
    duplicate_of: dict[int, int] = {}
    for record in records:
        key = (record.channel_id, record.message_id)
        first = merged.get(key)
        if first is None:
            merged[key] = record
            continue
        if first.delivery_status is DeliveryStatus.PENDING and record.delivery_status is not DeliveryStatus.PENDING:
            settled_by[key] = record.index
        merged[key] = _merge(first, record)
        duplicate_of[record.index] = first.index
    return _decide_in_order(records, invalid, merged, settled_by, duplicate_of, policy, template)


def _decide_in_order(
    records: list[MessageRecord],
    invalid: list[InvalidRecord],
    merged: dict[tuple[int, str], MessageRecord],
    settled_by: dict[tuple[int, str], int],
    duplicate_of: dict[int, int],
    policy: StalenessPolicy,
    template: str,
) -> Iterator[Decision]:
    invalid_at = {bad.index: bad for bad in invalid}
    valid = iter(records)  # parse_batch keeps input order
    for index in range(len(records) + len(invalid)):
        bad = invalid_at.get(index)
        if bad is not None:
            yield _invalid_decision(bad)
            continue
        record = next(valid)
        if record.index in duplicate_of:
            yield _skip(record, Outcome.SKIPPED_DUPLICATE, f"duplicate of messages[{duplicate_of[record.index]}]")
            continue
        key = (record.channel_id, record.message_id)
        try:
            decision = _decide(merged[key], policy, template, settled_by.get(key))
        except Exception as exc:
            # A record the checks let through but that still cannot be decided: its own invalid row, never the end
            # of the plan (a generator that raises is finished, and every later row would be lost with it).
            decision = _invalid_decision(
                InvalidRecord(
                    index=record.index,
                    field=f"messages[{record.index}]",
                    problem=f"it could not be decided ({type(exc).__name__})",
                    fix="check the record's fields; report this as a bug of the provider with the record's shape",
                    channel_id=str(record.channel_id),
                    message_id=record.message_id,
                )
            )
        yield decision


def hubspot_status_type(message: Mapping[str, Any]) -> str | None:
    """Return ``status.statusType`` of a message from HubSpot's GET, upper-cased, or None if absent.

    :param message: HubSpot's ``PublicConversationsMessage`` JSON.
    """
    status = message.get("status") if isinstance(message, Mapping) else None
    status_type = status.get("statusType") if isinstance(status, Mapping) else None
    return status_type.strip().upper() if isinstance(status_type, str) and status_type.strip() else None


def outcome_after_lookup(message: Mapping[str, Any]) -> Outcome | None:
    """Return ``skipped_terminal_in_hubspot`` when HubSpot already shows READ or FAILED, else None (PATCH).

    :param message: HubSpot's ``PublicConversationsMessage`` JSON from the GET before the PATCH.
    """
    if hubspot_status_type(message) in TERMINAL_HUBSPOT_STATUSES:
        return Outcome.SKIPPED_TERMINAL_IN_HUBSPOT
    return None


def _decide(record: MessageRecord, policy: StalenessPolicy, template: str, settled_by: int | None) -> Decision:
    status = record.delivery_status
    if status is not DeliveryStatus.PENDING:
        where = f" (receipt on duplicate messages[{settled_by}])" if settled_by is not None else ""
        return _skip(record, Outcome.SKIPPED_SETTLED, f"{status.value} per integrator{where}")
    sla = describe_duration(policy.stale_after)
    age = policy.age(record)
    if not policy.is_stale(record):
        if age.total_seconds() < 0:
            when = f"sent {describe_duration(age, max_units=2)} after the check time"
        else:
            when = f"{describe_duration(age, max_units=2)} old"
        return _skip(record, Outcome.SKIPPED_NOT_STALE, f"fresh: {when}, SLA {sla}")
    return Decision(
        index=record.index,
        channel_id=str(record.channel_id),
        message_id=record.message_id,
        action=Action.MARK_FAILED,
        outcome=None,
        reason=f"stale: no receipt {describe_duration(age, max_units=2)} after sending, SLA {sla}",
        error_message=render_error_message(template, record, policy),
        record=record,
    )


def _skip(record: MessageRecord, outcome: Outcome, reason: str) -> Decision:
    return Decision(
        index=record.index,
        channel_id=str(record.channel_id),
        message_id=record.message_id,
        action=Action.SKIP,
        outcome=outcome,
        reason=reason,
        error_message=None,
        record=record,
    )


def _invalid_decision(bad: InvalidRecord) -> Decision:
    return Decision(
        index=bad.index,
        channel_id=bad.channel_id,
        message_id=bad.message_id,
        action=Action.SKIP,
        outcome=Outcome.INVALID,
        reason=f"{bad.field}: {bad.problem}. Fix: {bad.fix}",
        error_message=None,
        record=None,
    )


def _merge(first: MessageRecord, later: MessageRecord) -> MessageRecord:
    status = first.delivery_status
    if status is DeliveryStatus.PENDING:
        status = later.delivery_status
    context = first.context
    if any(key not in context for key in later.context):
        context = MappingProxyType({**later.context, **first.context})
    if status is first.delivery_status and later.created_at >= first.created_at and context is first.context:
        return first
    return dataclasses.replace(
        first, delivery_status=status, created_at=min(first.created_at, later.created_at), context=context
    )
