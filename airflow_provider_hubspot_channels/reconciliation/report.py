"""The run report: one JSON Lines row per message, and a small summary for XCom and the task log.

Decisions:

* :class:`RunReport` keeps counts and a few examples, never every outcome, so a 100,000-message batch costs
  a few kilobytes; per-message detail goes to JSON Lines (:meth:`MessageOutcome.to_json`) as it happens.
* Examples are kept for the outcomes someone has to look at (``error``, ``not_found``, ``invalid``,
  ``marked_failed``), at most :data:`MAX_EXAMPLES` each, texts cut to :data:`EXAMPLE_TEXT_CHARS`.
* :meth:`RunReport.summary` is JSON-serialisable and under :data:`SUMMARY_MAX_BYTES` as JSON whatever the
  batch: if the examples would push it over, their texts are cut shorter, and finally dropped.
* The report writer is never the reason a batch stops: texts may come from anywhere (HubSpot, the
  integrator's store, exceptions), so lone UTF-16 surrogates become U+FFFD in report rows, the summary and the
  table, and every one of them encodes as UTF-8.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_hubspot_channels.reconciliation.decisions import Action, Decision
from airflow_provider_hubspot_channels.reconciliation.explanation import describe_duration
from airflow_provider_hubspot_channels.reconciliation.outcomes import Outcome
from airflow_provider_hubspot_channels.validation import replace_lone_surrogates

#: Outcomes worth an example in the summary: the ones someone has to read or act on.
EXAMPLE_OUTCOMES = (
    Outcome.ERROR,
    Outcome.REFUSED,
    Outcome.NOT_FOUND,
    Outcome.INVALID,
    Outcome.SKIPPED_NOT_OUTGOING,
    Outcome.CORRECTED_TO_SENT,
    Outcome.CORRECTED_TO_READ,
    Outcome.MARKED_FAILED_BY_CARRIER,
    Outcome.MARKED_FAILED,
)
MAX_EXAMPLES = 5
EXAMPLE_TEXT_CHARS = 160
#: XCom and log friendly: the summary's JSON (ASCII-escaped, its largest form) stays below 10 KB.
SUMMARY_MAX_BYTES = 10_000
STOPPED_REASON_CHARS = 300
_ELLIPSIS = "…"


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """How one input row ended, as written to the JSON Lines report.

    :param index: position in the input batch.
    :param channel_id: the channel id as text, or None.
    :param message_id: the message id, or None.
    :param outcome: the final outcome.
    :param reason: a short human reason.
    :param error_message: the explanation sent (or, in a dry run, that would be sent) to HubSpot.
    :param hubspot_status_before: HubSpot's ``statusType`` before our PATCH, if it was read.
    :param correlation_id: HubSpot's correlationId of the last answer, for support.
    :param attempts: HTTP requests made for this message.
    :param status_type: the status HubSpot is to show (the decision's target), if any.
    :param hubspot_status_after: what HubSpot shows after the run, when known (the store records it as reported).
    :param portal_id: the HubSpot account of the message, when the record named one.
    """

    index: int
    channel_id: str | None
    message_id: str | None
    outcome: Outcome
    reason: str
    error_message: str | None = None
    hubspot_status_before: str | None = None
    correlation_id: str | None = None
    attempts: int = 0
    status_type: str | None = None
    hubspot_status_after: str | None = None
    portal_id: str | None = None

    def to_json(self) -> str:
        """One JSON Lines row (no newline), snake_case keys in field order, always encodable as UTF-8."""
        # Repaired on the finished line: one pass covers every field, and U+FFFD is valid inside a JSON string.
        return replace_lone_surrogates(
            json.dumps(
                {
                    "index": self.index,
                    "channel_id": self.channel_id,
                    "message_id": self.message_id,
                    "outcome": self.outcome.value,
                    "reason": self.reason,
                    "status_type": self.status_type,
                    "error_message": self.error_message,
                    "hubspot_status_before": self.hubspot_status_before,
                    "hubspot_status_after": self.hubspot_status_after,
                    "correlation_id": self.correlation_id,
                    "attempts": self.attempts,
                    # Only when the record named its account: single-account reports stay as they were.
                    **({"portal_id": self.portal_id} if self.portal_id is not None else {}),
                },
                ensure_ascii=False,
            )
        )


def decision_outcome(decision: Decision) -> MessageOutcome:
    """Return the final outcome of a ``SKIP`` decision (no HubSpot call needed).

    :param decision: a decision from :func:`plan` with action ``SKIP``; ``WRITE`` raises ValueError, because only
        the runner knows how that one ended.
    """
    if decision.action is not Action.SKIP or decision.outcome is None:
        raise ValueError(f"row {decision.index} is to be written; its outcome comes from the runner")
    return MessageOutcome(
        index=decision.index,
        channel_id=decision.channel_id,
        message_id=decision.message_id,
        outcome=decision.outcome,
        reason=decision.reason,
        portal_id=decision.portal_id,
    )


def _zero_counts() -> dict[str, int]:
    return {outcome.value: 0 for outcome in Outcome}


def _no_examples() -> dict[str, list[dict[str, Any]]]:
    return {outcome.value: [] for outcome in EXAMPLE_OUTCOMES}


def format_table(summary: dict[str, Any]) -> str:
    """Return a fixed-width table of a :meth:`RunReport.summary` for the task log, then its examples.

    :param summary: the summary dict (also as read back from XCom).
    """
    counts: dict[str, int] = summary.get("counts", {})
    total = int(summary.get("total", sum(counts.values())))
    mode = " (dry run)" if summary.get("dry_run") else ""
    checked = (
        f"checked at {summary['reference_time']}, SLA {summary.get('sla')}, " if summary.get("reference_time") else ""
    )
    lines = [
        f"Reconciled {total:,} messages{mode}: {checked}took {float(summary.get('duration_seconds') or 0):.1f} s",
        f"{'outcome':<28} {'count':>9} {'share':>7}",
        f"{'-' * 28} {'-' * 9} {'-' * 7}",
    ]
    for name, count in counts.items():
        share = f"{100 * count / total:.1f}%" if total else "-"
        lines.append(f"{name:<28} {count:>9,} {share:>7}")
    lines.append(f"{'total':<28} {total:>9,} {'100.0%' if total else '-':>7}")
    if summary.get("stopped_reason"):
        lines.append(f"Stopped early: {summary['stopped_reason']}")
    examples: dict[str, list[dict[str, Any]]] = summary.get("examples") or {}
    if any(examples.values()):
        lines.append("Examples:")
        for name, rows in examples.items():
            for row in rows:
                channel, message = row.get("channel_id") or "-", row.get("message_id") or "-"
                text = f"  {name}: messages[{row.get('index')}] channel {channel} message {message}: "
                # Not the explanation sent: it names the recipient, and logs carry ids and counts, not personal data.
                text += str(row.get("reason"))
                if row.get("correlation_id"):
                    text += f" (correlationId {row['correlation_id']})"
                lines.append(text)
    return replace_lone_surrogates("\n".join(lines))


@dataclass(slots=True)
class RunReport:
    """Counts and a few examples of a run's outcomes; small whatever the batch size.

    :param counts: outcome value -> number of rows; every outcome is present, zeros included.
    :param examples: outcome value -> up to :data:`MAX_EXAMPLES` small dicts, for the outcomes in
        :data:`EXAMPLE_OUTCOMES`.
    :param accounts: the distinct accounts (``portal_id``) rows named; one short string per account, whatever the
        number of rows.
    """

    counts: dict[str, int] = field(default_factory=_zero_counts)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=_no_examples)
    accounts: set[str] = field(default_factory=set)

    format_table = staticmethod(format_table)

    @property
    def total(self) -> int:
        """Number of rows added."""
        return sum(self.counts.values())

    def add(self, outcome: MessageOutcome) -> None:
        """Count one row's outcome, keeping it as an example if its kind still has room.

        :param outcome: how the row ended.
        """
        self.counts[outcome.outcome.value] += 1
        if outcome.portal_id is not None:
            self.accounts.add(outcome.portal_id)
        rows = self.examples.get(outcome.outcome.value)
        if rows is not None and len(rows) < MAX_EXAMPLES:
            rows.append(_example(outcome, EXAMPLE_TEXT_CHARS))

    def summary(
        self,
        *,
        reference_time: datetime | None,
        stale_after: timedelta | None,
        dry_run: bool,
        verify_status: bool,
        duration_seconds: float,
        stopped_reason: str | None,
    ) -> dict[str, Any]:
        """Return the run summary: JSON-serialisable, under :data:`SUMMARY_MAX_BYTES` as JSON.

        :param reference_time: the instant messages were checked against (None for explicit updates).
        :param stale_after: the SLA (None for explicit updates).
        :param dry_run: whether nothing was written to HubSpot.
        :param verify_status: whether HubSpot's status was read before each PATCH.
        :param duration_seconds: wall time of the run.
        :param stopped_reason: why the batch stopped early (daily limit, kill), or None.
        """
        result: dict[str, Any] = {
            "total": self.total,
            "counts": dict(self.counts),
            "reference_time": reference_time.isoformat() if reference_time is not None else None,
            "stale_after_seconds": stale_after.total_seconds() if stale_after is not None else None,
            "sla": describe_duration(stale_after) if stale_after is not None else None,
            "dry_run": dry_run,
            "verify_status": verify_status,
            "duration_seconds": round(duration_seconds, 3),
            "stopped_reason": _shorten(_clean(stopped_reason), STOPPED_REASON_CHARS),
        }
        if self.accounts:  # only for multi-account batches: single-account summaries stay as they were
            result["accounts"] = len(self.accounts)
        limit = EXAMPLE_TEXT_CHARS
        while True:
            # Copies, so the caller can keep adding to the report after taking a summary.
            result["examples"] = {
                name: [_shorten_example(row, limit) for row in rows] for name, rows in self.examples.items()
            }
            # Non-ASCII text can take 12 bytes per character once escaped: measure rather than estimate.
            if len(json.dumps(result)) <= SUMMARY_MAX_BYTES:
                return result
            if limit < 8:
                result["examples"] = _no_examples()
                return result
            limit //= 2


def _example(outcome: MessageOutcome, limit: int) -> dict[str, Any]:
    return _shorten_example(
        {
            "index": outcome.index,
            "channel_id": _clean(outcome.channel_id),
            "message_id": _clean(outcome.message_id),
            "reason": _clean(outcome.reason),
            "error_message": _clean(outcome.error_message),
            "correlation_id": _clean(outcome.correlation_id),
            **({"portal_id": outcome.portal_id} if outcome.portal_id is not None else {}),
        },
        limit,
    )


def _clean(text: str | None) -> str | None:
    return None if text is None else replace_lone_surrogates(text)


def _shorten_example(row: dict[str, Any], limit: int) -> dict[str, Any]:
    return {key: _shorten(value, limit) if isinstance(value, str) else value for key, value in row.items()}


def _shorten(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + _ELLIPSIS
