"""Transition rules: what HubSpot may be told about a message, given what it shows now (pure, no I/O).

The integrator's record is the truth, HubSpot is made to agree with it, with two exceptions that protect agents:

* ``READ`` in HubSpot is never changed (it proves the message arrived and was read), unless an explicit status
  update says ``overwrite_read``;
* only ``OUTGOING`` messages are ever written: an id that HubSpot shows as ``INCOMING`` is a customer's message,
  and a store bug must not make agents see it as failed.

=====================  ========================  ========================  ==========================
HubSpot shows          target SENT               target READ               target FAILED
=====================  ========================  ========================  ==========================
no status, RECEIVED    write: marked_sent        write: marked_read        write: marked_failed (stale),
                                                                           marked_failed_by_carrier
SENT                   already_correct           write: marked_read        write, as above
READ                   skipped_read_in_hubspot   already_correct           skipped_read_in_hubspot
FAILED                 write: corrected_to_sent  write: corrected_to_read  already_correct (stale: any
                                                                           text; carrier: same text),
                                                                           else write
=====================  ========================  ========================  ==========================

A stale FAILED is a guess (no receipt within the SLA): a FAILED HubSpot already shows, with whatever text, tells
the agent at least as much. A carrier's failure is the truth, so its text replaces another one. HubSpot's ``SENT``
does not prove delivery (it may show it before the integrator reports anything), so it never stops a write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from airflow_provider_hubspot_channels.reconciliation.outcomes import Outcome


class Cause(str, Enum):
    """Why a status is to be written."""

    #: No receipt within the SLA: FAILED is a guess.
    STALE = "stale"
    #: The carrier's receipt (delivered, read, or failed with its error).
    RECEIPT = "receipt"
    #: A status report given explicitly (``UpdateMessageStatusOperator``).
    EXPLICIT = "explicit"


@dataclass(frozen=True, slots=True)
class Target:
    """The status HubSpot is to show for one message.

    :param status_type: ``SENT``, ``READ`` or ``FAILED``.
    :param error_message: what agents read, FAILED only.
    :param cause: why (decides the outcome's name and whether another FAILED text is replaced).
    :param overwrite_read: write even over HubSpot's READ (explicit updates only).
    """

    status_type: str
    error_message: str | None
    cause: Cause
    overwrite_read: bool = False


#: Outcome of a write by target status and cause, when HubSpot did not show FAILED before.
_MARKED = {
    "SENT": Outcome.MARKED_SENT,
    "READ": Outcome.MARKED_READ,
}
#: Outcome of a write that turns HubSpot's FAILED into what a receipt proves.
_CORRECTED = {"SENT": Outcome.CORRECTED_TO_SENT, "READ": Outcome.CORRECTED_TO_READ}
#: Each write outcome's dry-run twin.
DRY_RUN_TWINS = {
    Outcome.MARKED_SENT: Outcome.WOULD_MARK_SENT,
    Outcome.MARKED_READ: Outcome.WOULD_MARK_READ,
    Outcome.MARKED_FAILED: Outcome.WOULD_MARK_FAILED,
    Outcome.MARKED_FAILED_BY_CARRIER: Outcome.WOULD_MARK_FAILED_BY_CARRIER,
    Outcome.CORRECTED_TO_SENT: Outcome.WOULD_CORRECT_TO_SENT,
    Outcome.CORRECTED_TO_READ: Outcome.WOULD_CORRECT_TO_READ,
}
WRITE_OUTCOMES = frozenset(DRY_RUN_TWINS)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a message after reading it from HubSpot.

    :param outcome: the outcome: a write outcome (send the PATCH) or a no-write one.
    :param reason: why, in a few words.
    :param before: HubSpot's status as read (None: no status).
    """

    outcome: Outcome
    reason: str
    before: str | None

    @property
    def writes(self) -> bool:
        """Whether the PATCH is to be sent."""
        return self.outcome in WRITE_OUTCOMES


def hubspot_status_type(message: Mapping[str, Any]) -> str | None:
    """Return ``status.statusType`` of a message from HubSpot, upper-cased, or None if absent.

    :param message: HubSpot's ``PublicConversationsMessage`` JSON.
    """
    status = message.get("status") if isinstance(message, Mapping) else None
    status_type = status.get("statusType") if isinstance(status, Mapping) else None
    return status_type.strip().upper() if isinstance(status_type, str) and status_type.strip() else None


def hubspot_error_message(message: Mapping[str, Any]) -> str | None:
    """The FAILED text HubSpot shows (``status.failureDetails.errorMessage``), or None.

    :param message: HubSpot's message JSON.
    """
    status = message.get("status") if isinstance(message, Mapping) else None
    details = status.get("failureDetails") if isinstance(status, Mapping) else None
    text = details.get("errorMessage") if isinstance(details, Mapping) else None
    return text if isinstance(text, str) else None


def write_outcome(target: Target, before: str | None) -> Outcome:
    """The outcome of writing ``target`` over HubSpot's ``before`` (None: unknown or no status).

    :param target: what is written.
    :param before: HubSpot's status before the write.
    """
    if target.status_type == "FAILED":
        return Outcome.MARKED_FAILED if target.cause is not Cause.RECEIPT else Outcome.MARKED_FAILED_BY_CARRIER
    if before == "FAILED":
        return _CORRECTED[target.status_type]
    return _MARKED[target.status_type]


def judge(target: Target, message: Mapping[str, Any]) -> Verdict:
    """Apply the transition rules to HubSpot's current message.

    :param target: what the integrator's record says HubSpot should show.
    :param message: HubSpot's message JSON (from a GET or a thread listing).
    """
    before = hubspot_status_type(message)
    direction = message.get("direction") if isinstance(message, Mapping) else None
    if isinstance(direction, str) and direction.strip().upper() == "INCOMING":
        return Verdict(
            Outcome.SKIPPED_NOT_OUTGOING,
            "HubSpot shows this as an INCOMING message (a customer's): it is never written; check the store",
            before,
        )
    wanted = target.status_type
    if before == wanted and (wanted != "FAILED" or _same_failure(target, message)):
        return Verdict(Outcome.ALREADY_CORRECT, f"HubSpot already shows {before}", before)
    if before == "READ" and not target.overwrite_read:
        return Verdict(
            Outcome.SKIPPED_READ_IN_HUBSPOT,
            f"HubSpot shows READ, which is never changed (target {wanted})",
            before,
        )
    outcome = write_outcome(target, before)
    return Verdict(outcome, f"HubSpot shows {before or 'no status'}, the record says {wanted}", before)


def _same_failure(target: Target, message: Mapping[str, Any]) -> bool:
    # A stale FAILED is a guess: any FAILED HubSpot shows already says as much, and so does a bare FAILED (an
    # explicit update without a text must not erase the reason agents read). A carrier's or an explicit text is the
    # truth and replaces a different one.
    if target.cause is Cause.STALE or target.error_message is None:
        return True
    return hubspot_error_message(message) == target.error_message


def after_write(target: Target, answer: Mapping[str, Any], written: Outcome) -> tuple[Outcome, str | None, str]:
    """The outcome of a PATCH HubSpot answered: what its answer says the message now shows.

    Returns ``(outcome, status after, note)``; the note is empty when the answer confirms the write.

    :param target: what was written.
    :param answer: HubSpot's answer to the PATCH (the updated message).
    :param written: the write outcome the PATCH was sent for.
    """
    after = hubspot_status_type(answer)
    if after is None or after == target.status_type:
        return written, target.status_type, ""
    if after == "READ":
        return (
            Outcome.SKIPPED_READ_IN_HUBSPOT,
            after,
            f"HubSpot answered the PATCH with READ: it keeps READ (the message was read), {target.status_type} "
            "was not applied",
        )
    return Outcome.ERROR, after, f"HubSpot answered the PATCH with {after}, not {target.status_type}"
