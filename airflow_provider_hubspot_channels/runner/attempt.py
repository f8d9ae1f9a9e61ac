"""One message against HubSpot: read its state (optional), judge, PATCH, and turn every answer into its outcome.

Never raises: whatever happens, the message gets its row, and :class:`Attempt` tells the batch what the answer means
for the rest (a stopping error, no answer, a busy account). The batch around it is :mod:`.reconcile`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from airflow_provider_hubspot_channels.client import (
    ClientStoppedError,
    HubSpotApiError,
    HubSpotAuthenticationError,
    HubSpotChannelsError,
    HubSpotConnectionError,
    HubSpotDailyLimitError,
    HubSpotNotFoundError,
    HubSpotPermissionError,
    HubSpotRetriesExhaustedError,
    HubSpotTokenRefreshError,
)
from airflow_provider_hubspot_channels.reconciliation import (
    DRY_RUN_TWINS,
    WRITE_OUTCOMES,
    Decision,
    MessageOutcome,
    Outcome,
    after_write,
    judge,
    write_outcome,
)
from airflow_provider_hubspot_channels.runner.reasons import stop_reason
from airflow_provider_hubspot_channels.validation import StatusUpdate

if TYPE_CHECKING:
    from airflow_provider_hubspot_channels.client import Answer

#: Errors after which every further request would fail the same way.
BATCH_STOPPING_ERRORS = (
    HubSpotDailyLimitError,
    HubSpotAuthenticationError,
    HubSpotPermissionError,
    HubSpotTokenRefreshError,
)
#: Added to the reason of a message whose PATCH was sent again after an attempt got no answer.
REPEATED_WRITE_NOTE = (
    "the PATCH was sent again after an attempt got no answer, so HubSpot may have recorded it twice (same status "
    "and text)"
)


def maybe_written_note(status_type: str) -> str:
    """The reason of a write cut short after an attempt that may have landed.

    :param status_type: the status the PATCH carried.
    """
    return f"an earlier attempt of the PATCH got no answer, so HubSpot may show {status_type}"


#: Errors that mean HubSpot did not answer usefully through every retry (hung, down, or failing).
NO_ANSWER_ERRORS = (HubSpotConnectionError, HubSpotRetriesExhaustedError)


class MessageReader(Protocol):
    """Where a message's current state comes from before a write: one GET, or a thread listing already read."""

    def read(self, channel_id: int, message_id: str, thread_id: str | None) -> Answer:
        """HubSpot's message JSON (with ``status`` and ``direction``) and the requests it took."""


class MessageStatusClient(Protocol):
    """The client calls a reconciliation needs (``HubSpotChannelsClient`` has them)."""

    def read_message(self, channel_id: int | str, message_id: str) -> Answer:
        """Read one message."""

    def write_status(self, update: StatusUpdate) -> Answer:
        """Set one message's status."""

    def redact(self, text: str) -> str:
        """``text`` with every secret the client knows replaced."""

    def stop(self) -> None:
        """End waiting and retrying calls at once."""


@dataclass(frozen=True)
class Attempt:
    """One message's outcome, and what it tells about the batch."""

    outcome: MessageOutcome
    stopping_error: HubSpotChannelsError | None = None
    no_answer: bool = False
    busy: bool = False  # the no answer was a 429/423 through every retry (the account is busy, not down)


def outcome_row(decision: Decision, outcome: Outcome, reason: str, **fields: object) -> MessageOutcome:
    return MessageOutcome(
        index=decision.index,
        channel_id=decision.channel_id,
        message_id=decision.message_id,
        outcome=outcome,
        reason=reason,
        portal_id=decision.portal_id,
        **fields,  # type: ignore[arg-type]
    )


class OfflineClient:
    """The client of a dry run without verification: it sends nothing, so it needs no connection or token."""

    def read_message(self, channel_id: int | str, message_id: str) -> Answer:
        """Never called offline."""
        raise RuntimeError("an offline run reads nothing")

    def write_status(self, update: StatusUpdate) -> Answer:
        """Never called offline."""
        raise RuntimeError("an offline run writes nothing")

    def redact(self, text: str) -> str:
        """Nothing to redact: no secret was read.

        :param text: any text.
        """
        return text

    def stop(self) -> None:
        """Nothing in flight."""


class GetEach:
    """The plain reader: one GET per message."""

    def __init__(self, client: MessageStatusClient) -> None:
        self._client = client

    def read(self, channel_id: int, message_id: str, thread_id: str | None) -> Answer:
        return self._client.read_message(channel_id, message_id)


def attempt_one(
    decision: Decision,
    client: MessageStatusClient,
    reader: MessageReader,
    *,
    verify_status: bool,
    dry_run: bool,
) -> Attempt:
    """Carry out one WRITE decision: look up (optional), judge, then PATCH (unless dry run). Never raises."""
    target = decision.target
    assert target is not None and decision.channel_id is not None and decision.message_id is not None
    update = StatusUpdate(int(decision.channel_id), decision.message_id, target.status_type, target.error_message)
    before: str | None = None
    requests = 0
    writing = False

    def call(send: Callable[[], Answer]) -> Answer:
        nonlocal requests
        try:
            answer = send()
        except HubSpotChannelsError as exc:
            requests += exc.requests
            raise
        requests += answer.requests
        return answer

    def row(outcome: Outcome, reason: str, **fields: object) -> MessageOutcome:
        fields.setdefault("error_message", target.error_message if outcome in SHOWS_TEXT else None)
        return outcome_row(
            decision,
            outcome,
            reason,
            hubspot_status_before=before,
            attempts=requests,
            status_type=target.status_type,
            **fields,
        )

    try:
        if verify_status:
            message = call(lambda: reader.read(update.channel_id, update.message_id, decision.thread_id)).body
            verdict = judge(target, message)
            before = verdict.before
            if not verdict.writes:
                shown = before if verdict.outcome is not Outcome.SKIPPED_NOT_OUTGOING else None
                return Attempt(row(verdict.outcome, verdict.reason, hubspot_status_after=shown))
            written = verdict.outcome
        else:
            written = write_outcome(target, None)
        if dry_run:
            return Attempt(row(DRY_RUN_TWINS[written], f"dry run: {decision.reason}"))
        writing = True
        answer = call(lambda: client.write_status(update))
        outcome, after, note = after_write(target, answer.body, written)
        reason = note or decision.reason + (f"; {REPEATED_WRITE_NOTE}" if answer.unanswered else "")
        return Attempt(row(outcome, reason, hubspot_status_after=after))
    except HubSpotNotFoundError as exc:
        reason = "HubSpot does not know this message (wrong channel or message id, or deleted)"
        return Attempt(row(Outcome.NOT_FOUND, reason, correlation_id=exc.correlation_id))
    except BATCH_STOPPING_ERRORS as exc:
        correlation = exc.details.correlation_id
        if writing and exc.unanswered:
            reason = f"{stop_reason(exc)}; {maybe_written_note(target.status_type)}"
            return Attempt(row(Outcome.ERROR, reason, correlation_id=correlation), stopping_error=exc)
        return Attempt(row(Outcome.NOT_ATTEMPTED, stop_reason(exc), correlation_id=correlation), stopping_error=exc)
    except NO_ANSWER_ERRORS as exc:
        correlation = exc.correlation_id if isinstance(exc, HubSpotApiError) else None
        note = f"; {maybe_written_note(target.status_type)}" if writing and exc.unanswered else ""
        failed = row(Outcome.ERROR, client.redact(str(exc)) + note, correlation_id=correlation)
        if not exc.retry_may_succeed:  # the setup cannot reach HubSpot (TLS, invalid URL): every message would fail
            return Attempt(failed, stopping_error=exc)
        busy = isinstance(exc, HubSpotApiError) and exc.details.status < 500
        return Attempt(failed, no_answer=True, busy=busy)
    except ClientStoppedError as exc:
        if writing and exc.unanswered:
            return Attempt(
                row(Outcome.ERROR, f"stopped while the PATCH was sent; {maybe_written_note(target.status_type)}")
            )
        return Attempt(row(Outcome.NOT_ATTEMPTED, "stopped before this message was written"))
    except HubSpotApiError as exc:
        # A final answer (400, 409, 422, ...) repeats on every retry of the task: refused, not a transient error.
        outcome = Outcome.ERROR if exc.retry_may_succeed else Outcome.REFUSED
        return Attempt(row(outcome, client.redact(str(exc)), correlation_id=exc.correlation_id))
    except HubSpotChannelsError as exc:
        return Attempt(row(Outcome.ERROR, client.redact(str(exc))))
    except Exception as exc:
        # Whatever went wrong, the message gets its row and the batch goes on: an outcome is never lost. The text of
        # an exception from the HTTP stack can hold a header value: redacted like every other text we report.
        return Attempt(row(Outcome.ERROR, client.redact(f"unexpected {type(exc).__name__}: {exc}")))


#: Outcomes whose row shows the explanation that was (or would be) sent.
SHOWS_TEXT = WRITE_OUTCOMES | frozenset(DRY_RUN_TWINS.values())
