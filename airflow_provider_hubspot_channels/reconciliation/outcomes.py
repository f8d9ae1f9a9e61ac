"""How a message ended in a run: one :class:`Outcome` per input row, so the counts add up to the batch."""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    """How a message ended in a run; every input row gets exactly one.

    Writes (and their dry-run twins ``would_...``) say what HubSpot was told; the rest say why nothing was written.
    """

    MARKED_SENT = "marked_sent"
    MARKED_READ = "marked_read"
    #: FAILED because no receipt came within the SLA (or an explicit update said FAILED).
    MARKED_FAILED = "marked_failed"
    #: FAILED because the carrier's receipt said so, with its error.
    MARKED_FAILED_BY_CARRIER = "marked_failed_by_carrier"
    #: HubSpot showed FAILED; a receipt proves the message arrived.
    CORRECTED_TO_SENT = "corrected_to_sent"
    CORRECTED_TO_READ = "corrected_to_read"
    WOULD_MARK_SENT = "would_mark_sent"
    WOULD_MARK_READ = "would_mark_read"
    WOULD_MARK_FAILED = "would_mark_failed"
    WOULD_MARK_FAILED_BY_CARRIER = "would_mark_failed_by_carrier"
    WOULD_CORRECT_TO_SENT = "would_correct_to_sent"
    WOULD_CORRECT_TO_READ = "would_correct_to_read"
    #: HubSpot already showed the target (cost: the GET).
    ALREADY_CORRECT = "already_correct"
    #: The record says the bridge already reported the target (cost: no request).
    ALREADY_REPORTED = "already_reported"
    #: HubSpot shows READ, which is never changed.
    SKIPPED_READ_IN_HUBSPOT = "skipped_read_in_hubspot"
    #: HubSpot shows the id as an INCOMING (customer's) message: never written.
    SKIPPED_NOT_OUTGOING = "skipped_not_outgoing"
    SKIPPED_NOT_STALE = "skipped_not_stale"
    #: Stale-only mode: the integrator has a receipt, so the message is not considered.
    SKIPPED_SETTLED = "skipped_settled"
    SKIPPED_DUPLICATE = "skipped_duplicate"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    #: HubSpot refused the write with a final answer (400, 409, 422, ...): a retry would be refused the same way.
    REFUSED = "refused"
    ERROR = "error"
    NOT_ATTEMPTED = "not_attempted"
