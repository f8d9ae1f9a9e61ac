"""Per-message decisions: what HubSpot is to show for each message, and why the others need nothing.

:func:`plan` is pure: a batch and a policy in, one :class:`Decision` per input row out, so the outcome counts
of a run always add up to the batch size; in input order for one account, round-robin across accounts for several
(:mod:`.ordering`), each decision naming its input row. The target of a record (two-way mode):
``read`` -> READ, ``delivered`` -> SENT, ``failed`` -> FAILED with the carrier's explanation, ``pending`` and
stale -> FAILED with the SLA explanation, ``pending`` and fresh -> nothing. Stale-only mode leaves settled
records alone. A record whose ``reported_status`` equals its target costs no request (``already_reported``).
What HubSpot shows at the time is judged by the runner with :mod:`.transitions`.

Decisions:

* Duplicates (same ``channel_id`` and ``message_id``) are merged: one decision per distinct message, at its
  first occurrence; later rows are skipped as ``skipped_duplicate`` naming the first row. Webhooks are
  delivered at least once, so the integrator's store can hold a message twice, once with its receipt.
  When the rows disagree, a settled status anywhere wins over ``pending`` (a receipt settles it; among
  receipts the first one counts), the earliest ``created_at`` counts (the first record is closest to the
  real send; a redelivered webhook is recorded later), and context fields missing from the first row are
  taken from later ones.
* Invalid rows become ``invalid`` decisions in place; the rest of the batch proceeds.
* A record whose bridge reported READ is never written again (READ is never changed), lookup or not.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

from airflow_provider_hubspot_channels.reconciliation.explanation import (
    DEFAULT_CARRIER_ERROR_MESSAGE_TEMPLATE,
    DEFAULT_ERROR_MESSAGE_TEMPLATE,
    describe_duration,
    render_error_message,
    validate_template,
)
from airflow_provider_hubspot_channels.reconciliation.ordering import plan_order
from airflow_provider_hubspot_channels.reconciliation.outcomes import Outcome
from airflow_provider_hubspot_channels.reconciliation.policy import StalenessPolicy
from airflow_provider_hubspot_channels.reconciliation.records import (
    DeliveryStatus,
    InvalidRecord,
    MessageRecord,
    batch_rows,
    parse_batch,
)
from airflow_provider_hubspot_channels.reconciliation.transitions import Cause, Target


class Action(str, Enum):
    """What the runner does with a message."""

    #: Tell HubSpot the decision's target (unless a lookup says otherwise).
    WRITE = "write"
    SKIP = "skip"


class Mode(str, Enum):
    """Which disagreements a reconciliation fixes."""

    #: HubSpot converges to the integrator's record: receipts are reported, late ones correct a FAILED.
    TWO_WAY = "two_way"
    #: Only pending messages past their SLA become FAILED (``ReconcileStaleMessagesOperator``).
    STALE_ONLY = "stale_only"


#: A message's identity: account (None: the connection's), channel, message id. One id in two accounts is two
#: messages.
MessageKey = tuple[str | None, int, str]


@dataclass(frozen=True, slots=True)
class Decision:
    """The plan for one input row.

    :param index: position in the input batch.
    :param channel_id: the channel id as text (as given, for invalid rows), or None if missing.
    :param message_id: the message id as given, or None if missing.
    :param action: ``WRITE`` (the runner PATCHes, unless a lookup says otherwise) or ``SKIP``.
    :param outcome: the final outcome for ``SKIP``; None for ``WRITE`` until the runner acts.
    :param reason: a short human reason, e.g. ``fresh: 4 minutes old, SLA 15 minutes``.
    :param target: what HubSpot is to show, for ``WRITE``; else None.
    :param record: the (merged) record, None for invalid rows and explicit updates.
    :param thread_id: HubSpot's thread of the message, if known (verify by thread).
    :param portal_id: the HubSpot account the message belongs to; None means the task connection's account.
    """

    index: int
    channel_id: str | None
    message_id: str | None
    action: Action
    outcome: Outcome | None
    reason: str
    target: Target | None
    record: MessageRecord | None = None
    thread_id: str | None = None
    portal_id: str | None = None

    @property
    def error_message(self) -> str | None:
        """The explanation agents will read, for a FAILED target."""
        return self.target.error_message if self.target is not None else None


def plan(
    raw_batch: Any,
    policy: StalenessPolicy,
    template: str = DEFAULT_ERROR_MESSAGE_TEMPLATE,
    *,
    mode: Mode = Mode.STALE_ONLY,
    carrier_template: str = DEFAULT_CARRIER_ERROR_MESSAGE_TEMPLATE,
) -> list[Decision]:
    """Decide every row of a batch, in the order a task takes it (see :func:`iter_plan`: round-robin across accounts
    for several; each decision's ``index`` is its input row); raises ``InvalidInputError`` only for a bad batch or
    template.

    :param raw_batch: a list of message objects (or a JSON string of one), see :func:`parse_batch`.
    :param policy: the run's SLA and reference time.
    :param template: the stale explanation's template, see :func:`validate_template`.
    :param mode: two-way, or stale-only.
    :param carrier_template: the explanation's template when the carrier said ``failed`` (two-way).
    """
    return list(iter_plan(raw_batch, policy, template, mode=mode, carrier_template=carrier_template))


def iter_plan(
    raw_batch: Any,
    policy: StalenessPolicy,
    template: str = DEFAULT_ERROR_MESSAGE_TEMPLATE,
    *,
    mode: Mode = Mode.STALE_ONLY,
    carrier_template: str = DEFAULT_CARRIER_ERROR_MESSAGE_TEMPLATE,
) -> Iterator[Decision]:
    """Like :func:`plan`, but yields the decisions one by one, in :func:`~.ordering.plan_order` (input order for a
    batch of one account; round-robin across accounts, each account's rows in input order, for several).

    The batch and templates are checked at once (so a bad batch raises before any request is sent); each decision,
    with its rendered error message, is made only when it is taken, so a 100,000-row batch never holds 100,000
    decisions and messages at the same time.

    :param raw_batch: a list of message objects (or a JSON string of one), see :func:`parse_batch`.
    :param policy: the run's SLA and reference time.
    :param template: the stale explanation's template, see :func:`validate_template`.
    :param mode: two-way, or stale-only.
    :param carrier_template: the explanation's template when the carrier said ``failed`` (two-way).
    """
    validate_template(template)
    validate_template(carrier_template, field="carrier_error_message_template")
    rows = batch_rows(raw_batch)
    records, invalid = parse_batch(rows)
    # First pass: only the duplicate index. Merging needs every row before the first one can be decided.
    merged: dict[MessageKey, MessageRecord] = {}
    settled_by: dict[MessageKey, int] = {}
    duplicate_of: dict[int, int] = {}
    for record in records:
        key = (record.portal_id, record.channel_id, record.message_id)
        first = merged.get(key)
        if first is None:
            merged[key] = record
            continue
        if first.delivery_status is DeliveryStatus.PENDING and record.delivery_status is not DeliveryStatus.PENDING:
            settled_by[key] = record.index
        merged[key] = _merge(first, record)
        duplicate_of[record.index] = first.index
    # A thread is worth one listing only when it holds more than one message of the batch: for a single message its
    # own GET is cheaper than a listing of up to 100 (review: a lone message of a long thread cost 4 requests).
    per_thread = Counter(record.thread_id for record in merged.values() if record.thread_id is not None)
    shared = frozenset(thread for thread, count in per_thread.items() if count > 1)
    rules = _Rules(policy, template, carrier_template, mode, shared)
    return _decide_in_order(plan_order(rows), records, invalid, merged, settled_by, duplicate_of, rules)


@dataclass(frozen=True)
class _Rules:
    policy: StalenessPolicy
    template: str
    carrier_template: str
    mode: Mode
    shared_threads: frozenset[str]


def _decide_in_order(
    order: list[int],
    records: list[MessageRecord],
    invalid: list[InvalidRecord],
    merged: dict[MessageKey, MessageRecord],
    settled_by: dict[MessageKey, int],
    duplicate_of: dict[int, int],
    rules: _Rules,
) -> Iterator[Decision]:
    row_at: dict[int, MessageRecord | InvalidRecord] = {row.index: row for row in records}
    row_at.update((bad.index, bad) for bad in invalid)
    for index in order:
        record = row_at[index]
        if isinstance(record, InvalidRecord):
            yield _invalid_decision(record)
            continue
        if record.index in duplicate_of:
            yield _skip(record, Outcome.SKIPPED_DUPLICATE, f"duplicate of messages[{duplicate_of[record.index]}]")
            continue
        key = (record.portal_id, record.channel_id, record.message_id)
        try:
            decision = _decide(merged[key], rules, settled_by.get(key))
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
                    portal_id=record.portal_id,
                )
            )
        yield decision


#: The status HubSpot is to show for a receipt.
_RECEIPT_STATUS = {DeliveryStatus.DELIVERED: "SENT", DeliveryStatus.READ: "READ", DeliveryStatus.FAILED: "FAILED"}


def _decide(record: MessageRecord, rules: _Rules, settled_by: int | None) -> Decision:
    status = record.delivery_status
    policy = rules.policy
    if status is DeliveryStatus.PENDING:
        sla = describe_duration(policy.stale_after)
        age = policy.age(record)
        if not policy.is_stale(record):
            if age.total_seconds() < 0:
                when = f"sent {describe_duration(age, max_units=2)} after the check time"
            else:
                when = f"{describe_duration(age, max_units=2)} old"
            return _skip(record, Outcome.SKIPPED_NOT_STALE, f"fresh: {when}, SLA {sla}")
        target = Target("FAILED", render_error_message(rules.template, record, policy), Cause.STALE)
        reason = f"stale: no receipt {describe_duration(age, max_units=2)} after sending, SLA {sla}"
    else:
        where = f" (receipt on duplicate messages[{settled_by}])" if settled_by is not None else ""
        if rules.mode is Mode.STALE_ONLY:
            return _skip(record, Outcome.SKIPPED_SETTLED, f"{status.value} per integrator{where}")
        wanted = _RECEIPT_STATUS[status]
        error = render_error_message(rules.carrier_template, record, policy) if wanted == "FAILED" else None
        target = Target(wanted, error, Cause.RECEIPT)
        reason = f"{status.value} per the carrier's receipt{where}"
    if rules.mode is Mode.TWO_WAY and record.reported_status is not None:
        reported = record.reported_status
        if reported == target.status_type:
            return _skip(record, Outcome.ALREADY_REPORTED, f"the bridge already reported {reported} ({reason})")
        if reported == "READ":
            # Without a lookup too: the bridge told HubSpot READ, and READ is never changed.
            return _skip(record, Outcome.SKIPPED_READ_IN_HUBSPOT, f"the bridge reported READ, never changed ({reason})")
    return Decision(
        index=record.index,
        channel_id=str(record.channel_id),
        message_id=record.message_id,
        action=Action.WRITE,
        outcome=None,
        reason=reason,
        target=target,
        record=record,
        thread_id=record.thread_id if record.thread_id in rules.shared_threads else None,
        portal_id=record.portal_id,
    )


def _skip(record: MessageRecord, outcome: Outcome, reason: str) -> Decision:
    return Decision(
        index=record.index,
        channel_id=str(record.channel_id),
        message_id=record.message_id,
        action=Action.SKIP,
        outcome=outcome,
        reason=reason,
        target=None,
        record=record,
        thread_id=record.thread_id,
        portal_id=record.portal_id,
    )


def _invalid_decision(bad: InvalidRecord) -> Decision:
    return Decision(
        index=bad.index,
        channel_id=bad.channel_id,
        message_id=bad.message_id,
        action=Action.SKIP,
        outcome=Outcome.INVALID,
        reason=f"{bad.field}: {bad.problem}. Fix: {bad.fix}",
        target=None,
        portal_id=bad.portal_id,
    )


def _merge(first: MessageRecord, later: MessageRecord) -> MessageRecord:
    status = first.delivery_status
    receipt_at = first.receipt_at
    if status is DeliveryStatus.PENDING:
        status, receipt_at = later.delivery_status, later.receipt_at
    context = first.context
    if any(key not in context for key in later.context):
        context = MappingProxyType({**later.context, **first.context})
    return dataclasses.replace(
        first,
        delivery_status=status,
        created_at=min(first.created_at, later.created_at),
        context=context,
        receipt_at=receipt_at,
        reported_status=first.reported_status or later.reported_status,
        thread_id=first.thread_id or later.thread_id,
    )


#: Why a row naming an account is refused when the task has no per-account credentials.
NAMED_ACCOUNT_FIX = (
    "set account_conn_pattern (a connection per account), or refresh_tokens_sql_conn_id and refresh_tokens_sql "
    "(refresh tokens from a table); or leave portal_id out of the rows of the connection's own account"
)


def refuse_named_accounts(decisions: Iterable[Decision]) -> Iterator[Decision]:
    """The plan of a task without per-account credentials: a row that names an account and needs a request becomes
    ``invalid`` instead, since the only token at hand is the connection's, and it may belong to another customer.

    :param decisions: the plan.
    """
    for decision in decisions:
        if decision.portal_id is None or decision.action is not Action.WRITE:
            yield decision
            continue
        yield dataclasses.replace(
            decision,
            action=Action.SKIP,
            outcome=Outcome.INVALID,
            target=None,
            reason=(
                f"row {decision.index}.portal_id: it names HubSpot account {decision.portal_id}, and the task has no "
                f"per-account credentials (it would go out with the connection's token). Fix: {NAMED_ACCOUNT_FIX}"
            ),
        )
