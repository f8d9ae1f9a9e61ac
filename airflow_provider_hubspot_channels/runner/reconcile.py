"""Carry out a reconciliation plan against HubSpot: the only place where decisions meet the client.

Data flows one way: the domain's decisions come in, the client acts (a GET first when ``verify_status``, then
the PATCH), and one :class:`MessageOutcome` per input row comes out, in completion order, to a sink and the
report. ``max_concurrency`` threads (the caller's among them) take the plan's decisions one at a time and send
through the client's shared rate budget: at most ``max_concurrency`` messages are in flight, and a 100,000-row
batch is never held or queued whole.

One message's failure never stops the others. What stops the batch (the rest become ``not_attempted``):
a daily limit (no further request can succeed today), a refused token or missing scope (every other request
would fail the same way: no retry storm), :data:`NO_ANSWER_LIMIT` messages in a row that got no useful answer
through every retry (HubSpot is down or hung: the task's time stays bounded), and ``stop`` (``on_kill``).
A thread checks the stop before each message, so no request starts after the batch stopped; and the batch fans
out only after its first message came back, so a refused credential costs one request, not one per thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

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
    Action,
    Decision,
    MessageOutcome,
    Outcome,
    RunReport,
    decision_outcome,
    hubspot_status_type,
    outcome_after_lookup,
)

#: Errors after which every further request would fail the same way.
BATCH_STOPPING_ERRORS = (
    HubSpotDailyLimitError,
    HubSpotAuthenticationError,
    HubSpotPermissionError,
    HubSpotTokenRefreshError,
)


#: Added to the reason of a message whose PATCH was sent again after an attempt got no answer.
REPEATED_WRITE_NOTE = (
    "the PATCH was sent again after an attempt got no answer, so HubSpot may have recorded FAILED twice (same text)"
)
#: Errors that mean HubSpot did not answer usefully through every retry (hung, down, or failing).
NO_ANSWER_ERRORS = (HubSpotConnectionError, HubSpotRetriesExhaustedError)
#: This many messages in a row ending in :data:`NO_ANSWER_ERRORS` stop the batch: HubSpot is down or hung, and
#: going on would hold the task for a time proportional to the batch instead of a bounded one.
NO_ANSWER_LIMIT = 3


class MessageStatusClient(Protocol):
    """The client calls a reconciliation needs (``HubSpotChannelsClient`` has them)."""

    def get_message(self, channel_id: int | str, message_id: str) -> dict[str, Any]:
        """Read one message."""

    def update_message_status(
        self, channel_id: int | str, message_id: str, status_type: str, error_message: str | None = None
    ) -> dict[str, Any]:
        """Set one message's status."""

    def unanswered_attempts(self) -> int:
        """Attempts of this thread's last call that got no usable answer before a retry (0: none)."""


@dataclass(frozen=True)
class RunResult:
    """How the run ended.

    :param duration_seconds: wall time of the run.
    :param stopped_reason: why the batch stopped early, or None if every row was handled.
    :param stopping_error: the client error that stopped it, if any.
    """

    duration_seconds: float
    stopped_reason: str | None
    stopping_error: HubSpotChannelsError | None


def _outcome(decision: Decision, outcome: Outcome, reason: str, **fields: Any) -> MessageOutcome:
    return MessageOutcome(
        index=decision.index,
        channel_id=decision.channel_id,
        message_id=decision.message_id,
        outcome=outcome,
        reason=reason,
        **fields,
    )


def _error_outcome(decision: Decision, exc: HubSpotChannelsError) -> MessageOutcome:
    correlation = exc.correlation_id if isinstance(exc, HubSpotApiError) else None
    attempts = getattr(exc, "attempts", 0)
    return _outcome(decision, Outcome.ERROR, str(exc), correlation_id=correlation, attempts=attempts)


def _attempt(decision: Decision, client: MessageStatusClient, *, verify_status: bool, dry_run: bool) -> MessageOutcome:
    """Carry out one MARK_FAILED decision: look up (optional), then PATCH (unless dry run).

    Batch-stopping errors and :data:`NO_ANSWER_ERRORS` are raised for the caller to handle; other client errors
    become an ``error`` outcome.
    """
    assert decision.record is not None and decision.error_message is not None
    channel_id, message_id = decision.record.channel_id, decision.record.message_id
    before: str | None = None
    attempts = 0
    try:
        if verify_status:
            attempts += 1
            message = client.get_message(channel_id, message_id)
            before = hubspot_status_type(message)
            skipped = outcome_after_lookup(message)
            if skipped is not None:
                return _outcome(
                    decision, skipped, f"HubSpot already shows {before}", hubspot_status_before=before, attempts=1
                )
        if dry_run:
            return _outcome(
                decision,
                Outcome.WOULD_MARK_FAILED,
                f"dry run: {decision.reason}",
                error_message=decision.error_message,
                hubspot_status_before=before,
                attempts=attempts,
            )
        attempts += 1
        client.update_message_status(channel_id, message_id, "FAILED", decision.error_message)
        reason = decision.reason
        if client.unanswered_attempts():
            reason += f"; {REPEATED_WRITE_NOTE}"
        return _outcome(
            decision,
            Outcome.MARKED_FAILED,
            reason,
            error_message=decision.error_message,
            hubspot_status_before=before,
            attempts=attempts,
        )
    except HubSpotNotFoundError as exc:
        return _outcome(
            decision,
            Outcome.NOT_FOUND,
            "HubSpot does not know this message (wrong channel or message id, or deleted)",
            correlation_id=exc.correlation_id,
            attempts=attempts,
        )
    except (*BATCH_STOPPING_ERRORS, *NO_ANSWER_ERRORS):
        raise
    except ClientStoppedError:
        return _outcome(decision, Outcome.NOT_ATTEMPTED, "stopped before this message was written", attempts=attempts)
    except HubSpotChannelsError as exc:
        correlation = exc.correlation_id if isinstance(exc, HubSpotApiError) else None
        return _outcome(decision, Outcome.ERROR, str(exc), correlation_id=correlation, attempts=attempts)


def run_plan(
    decisions: Iterable[Decision],
    client: MessageStatusClient,
    *,
    report: RunReport,
    sink: Callable[[MessageOutcome], None] = lambda _outcome: None,
    verify_status: bool = True,
    dry_run: bool = False,
    max_concurrency: int = 4,
    stop: threading.Event | None = None,
) -> RunResult:
    """Act on every decision and record one outcome per row in ``report`` and ``sink``.

    The calling thread and ``max_concurrency - 1`` more take decisions from the plan in turn; ``report`` and
    ``sink`` are called by one thread at a time, in completion order.

    :param decisions: the domain's plan, in input order.
    :param client: the HubSpot client.
    :param report: the run's counts and examples.
    :param sink: receives every outcome as it completes (e.g. a JSON Lines writer).
    :param verify_status: GET each stale message first and leave READ/FAILED ones alone.
    :param dry_run: send no PATCH.
    :param max_concurrency: threads sending requests.
    :param stop: set it to stop the batch (``on_kill``); rows not started become ``not_attempted``.
    """
    stop = stop or threading.Event()
    started = time.monotonic()
    # One lock guards the plan, the report, the sink and the counters below. Each thread takes its next decision
    # and records its last outcome under it, and talks to HubSpot outside it. No executor: a future per message and
    # handing every message between threads cost more CPU than the HTTP stack (benchmarks, scenario 4).
    lock = threading.Lock()
    plan = iter(decisions)
    stopped_reason: str | None = None
    stopping_error: HubSpotChannelsError | None = None
    no_answer = 0  # messages in a row that ended in NO_ANSWER_ERRORS
    failures: list[BaseException] = []  # what a thread could not handle (the plan or the sink raised)

    def record(outcome: MessageOutcome) -> None:
        report.add(outcome)
        sink(outcome)

    def not_attempted(decision: Decision) -> MessageOutcome:
        nonlocal stopped_reason
        # Stopped without a reason of ours: the stop event came from outside (on_kill).
        stopped_reason = stopped_reason or "stopped: the task was killed"
        return _outcome(decision, Outcome.NOT_ATTEMPTED, f"not attempted, {stopped_reason}")

    def take() -> Decision | None:
        """The next decision to act on (lock held); records the rows that need no request on the way."""
        for decision in plan:
            if decision.action is Action.SKIP:
                record(decision_outcome(decision))
            elif stop.is_set():
                record(not_attempted(decision))
            else:
                return decision
        return None

    def act(decision: Decision) -> MessageOutcome:
        """One message against HubSpot (lock not held); every error becomes its outcome."""
        nonlocal stopped_reason, stopping_error, no_answer
        if stop.is_set():  # stopped since it was taken: no request may start now
            return not_attempted(decision)
        try:
            outcome = _attempt(decision, client, verify_status=verify_status, dry_run=dry_run)
        except BATCH_STOPPING_ERRORS as exc:
            with lock:
                if stopping_error is None:
                    stopping_error, stopped_reason = exc, _stop_reason(exc)
                stop.set()  # at once: the other threads must not start another request
            return _outcome(
                decision,
                Outcome.NOT_ATTEMPTED,
                stopped_reason or str(exc),
                correlation_id=exc.details.correlation_id,
            )
        except NO_ANSWER_ERRORS as exc:
            with lock:
                no_answer += 1
                if no_answer >= NO_ANSWER_LIMIT and not stop.is_set():
                    stopped_reason = stopped_reason or (
                        f"stopped: HubSpot did not answer {no_answer} messages in a row through every retry "
                        f"(last: {exc})"
                    )
                    stop.set()
            return _error_outcome(decision, exc)
        except Exception as exc:
            # Whatever went wrong, the message gets its row and the batch goes on: an outcome is never lost.
            return _outcome(decision, Outcome.ERROR, f"unexpected {type(exc).__name__}: {exc}")
        if no_answer:
            with lock:
                no_answer = 0
        return outcome

    def work(decision: Decision | None, *, only_this: bool = False) -> None:
        """Act on ``decision`` (or the plan's next), then on the plan's next ones until it is used up."""
        nonlocal stopped_reason
        try:
            if decision is None:
                with lock:
                    decision = take()
            while decision is not None:
                outcome = act(decision)
                with lock:
                    record(outcome)
                    decision = None  # recorded: from here on an exception must not record it again
                    if not only_this:
                        decision = take()
        except BaseException as exc:  # the sink or plan failed, or the task was interrupted (timeout, signal)
            stop.set()  # the other threads must not send what could no longer be recorded
            failures.append(exc)
            with contextlib.suppress(BaseException), lock:
                stopped_reason = stopped_reason or f"stopped: the run was interrupted ({type(exc).__name__})"
                if decision is not None:  # taken, maybe sent, never recorded: it gets its row
                    record(
                        _outcome(
                            decision,
                            Outcome.ERROR,
                            f"{stopped_reason} while this message was being handled; HubSpot may or may not show "
                            "it FAILED",
                        )
                    )

    helpers: list[threading.Thread] = []
    try:
        # The first message alone: a refused credential or missing scope then costs one request, not one per thread.
        work(None, only_this=True)
        if not failures and not stop.is_set():
            helpers = [
                threading.Thread(target=work, args=(None,), name=f"hubspot-reconcile_{i}", daemon=True)
                for i in range(max_concurrency - 1)
            ]
            for thread in helpers:
                thread.start()
        work(None)  # the rest (after a stop, take() records every remaining row as not attempted)
        for thread in helpers:
            thread.join()
    except BaseException:
        stop.set()  # interrupted while starting or joining the threads: they must stop sending
        for thread in helpers:
            if thread.is_alive():
                thread.join()
        raise
    if failures:
        raise failures[0]
    if stop.is_set() and stopped_reason is None:
        # Stopped from outside (on_kill) with every row handled: rows cut short by the stop are not_attempted,
        # and the operator must fail instead of reporting success.
        stopped_reason = "stopped: the task was killed"
    return RunResult(time.monotonic() - started, stopped_reason, stopping_error)


def _stop_reason(exc: HubSpotChannelsError) -> str:
    if isinstance(exc, HubSpotDailyLimitError):
        return "stopped: HubSpot's daily request limit is reached"
    if isinstance(exc, HubSpotPermissionError):
        return "stopped: the token lacks a required scope"
    return "stopped: HubSpot refused the credentials"
