"""Carry out a reconciliation plan against HubSpot: the only place where decisions meet the client.

Data flows one way: the domain's decisions come in, the client acts (a GET first when ``verify_status``, then
the PATCH), and one :class:`MessageOutcome` per input row comes out, in completion order, to a sink and the
report. ``max_concurrency`` worker threads take the plan's decisions one at a time and send through the client's
shared rate budget: at most ``max_concurrency`` messages are in flight, and a 100,000-row batch is never held or
queued whole.

The calling thread only waits. Airflow raises its execution timeout (and Ctrl-C raises ``KeyboardInterrupt``) in the
main thread, between any two bytecodes; no decision is taken, no request sent and no row recorded there, so an
interrupt can never kill the plan half-way or count a row it did not write. On an interrupt the run stops the client
(calls in flight end at once), the workers give every remaining row its ``not_attempted`` outcome, and the
interrupt is raised again.

One message's failure never stops the others, and neither does the report sink: a row the sink could not write is
counted and named in :attr:`RunResult.unwritten_rows`. What stops the batch (the rest become ``not_attempted``):
a daily limit (no further request can succeed today), a refused token or missing scope (every other request
would fail the same way: no retry storm), :data:`NO_ANSWER_LIMIT` messages in a row that got no useful answer
through every retry (HubSpot is down or hung: the task's time stays bounded), and ``stop`` (``on_kill``).
A worker checks the stop before each message, so no request starts after the batch stopped; and the batch fans
out only after its first message came back, so a refused credential costs one request, not one per thread.

Many accounts (``client`` is an :class:`~.accounts.AccountRouter`): each row goes to its account's client, and the
errors above that concern one account (daily limit, refused token or scope, missing credentials) stop only that
account: its remaining rows are ``not_attempted`` naming it and the fix, and :attr:`RunResult.stopped_accounts`
lists it. HubSpot down and setup errors still stop the batch. The first message goes alone per account, and workers
prefer accounts that can send now (:mod:`.accounts`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
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
    Action,
    Decision,
    MessageOutcome,
    Outcome,
    RunReport,
    after_write,
    decision_outcome,
    judge,
    write_outcome,
)
from airflow_provider_hubspot_channels.runner.accounts import (
    AccountRouter,
    Readers,
    Scheduler,
    account_label,
    as_router,
    window_size,
)
from airflow_provider_hubspot_channels.runner.reasons import account_stop_reason, ready, stop_reason
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
#: This many messages in a row ending in :data:`NO_ANSWER_ERRORS` stop the batch: HubSpot is down or hung, and
#: going on would hold the task for a time proportional to the batch instead of a bounded one.
NO_ANSWER_LIMIT = 3
#: Seconds between two checks of the workers while the calling thread waits (it wakes for interrupts anyway).
_JOIN_POLL = 0.5


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
class RunResult:
    """How the run ended.

    :param duration_seconds: wall time of the run.
    :param stopped_reason: why the batch stopped early, or None if every row was handled.
    :param stopping_error: the client error that stopped it, if any.
    :param unwritten_rows: rows the sink could not write (they are counted in the report all the same).
    :param sink_error: the first error of the sink, secrets redacted, if any.
    :param hubspot_down: it stopped because HubSpot gave no answer or 5xx for several messages in a row (not 429s,
        which say the account is busy).
    :param stopped_accounts: accounts (portal id, or ``"connection"``) a final error stopped while others went on,
        with the first such error of each; only runs with an :class:`~.accounts.AccountRouter` have any.
    """

    duration_seconds: float
    stopped_reason: str | None
    stopping_error: HubSpotChannelsError | None
    unwritten_rows: int = 0
    sink_error: str | None = None
    hubspot_down: bool = False
    stopped_accounts: dict[str, HubSpotChannelsError] = field(default_factory=dict)


@dataclass(frozen=True)
class _Attempt:
    """One message's outcome, and what it tells about the batch."""

    outcome: MessageOutcome
    stopping_error: HubSpotChannelsError | None = None
    no_answer: bool = False
    busy: bool = False  # the no answer was a 429/423 through every retry (the account is busy, not down)


def _outcome(decision: Decision, outcome: Outcome, reason: str, **fields: object) -> MessageOutcome:
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


class _GetEach:
    """The plain reader: one GET per message."""

    def __init__(self, client: MessageStatusClient) -> None:
        self._client = client

    def read(self, channel_id: int, message_id: str, thread_id: str | None) -> Answer:
        return self._client.read_message(channel_id, message_id)


def _attempt(
    decision: Decision,
    client: MessageStatusClient,
    reader: MessageReader,
    *,
    verify_status: bool,
    dry_run: bool,
) -> _Attempt:
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
        fields.setdefault("error_message", target.error_message if outcome in _SHOWS_TEXT else None)
        return _outcome(
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
                return _Attempt(row(verdict.outcome, verdict.reason, hubspot_status_after=shown))
            written = verdict.outcome
        else:
            written = write_outcome(target, None)
        if dry_run:
            return _Attempt(row(DRY_RUN_TWINS[written], f"dry run: {decision.reason}"))
        writing = True
        answer = call(lambda: client.write_status(update))
        outcome, after, note = after_write(target, answer.body, written)
        reason = note or decision.reason + (f"; {REPEATED_WRITE_NOTE}" if answer.unanswered else "")
        return _Attempt(row(outcome, reason, hubspot_status_after=after))
    except HubSpotNotFoundError as exc:
        reason = "HubSpot does not know this message (wrong channel or message id, or deleted)"
        return _Attempt(row(Outcome.NOT_FOUND, reason, correlation_id=exc.correlation_id))
    except BATCH_STOPPING_ERRORS as exc:
        correlation = exc.details.correlation_id
        if writing and exc.unanswered:
            reason = f"{stop_reason(exc)}; {maybe_written_note(target.status_type)}"
            return _Attempt(row(Outcome.ERROR, reason, correlation_id=correlation), stopping_error=exc)
        return _Attempt(row(Outcome.NOT_ATTEMPTED, stop_reason(exc), correlation_id=correlation), stopping_error=exc)
    except NO_ANSWER_ERRORS as exc:
        correlation = exc.correlation_id if isinstance(exc, HubSpotApiError) else None
        note = f"; {maybe_written_note(target.status_type)}" if writing and exc.unanswered else ""
        failed = row(Outcome.ERROR, client.redact(str(exc)) + note, correlation_id=correlation)
        if not exc.retry_may_succeed:  # the setup cannot reach HubSpot (TLS, invalid URL): every message would fail
            return _Attempt(failed, stopping_error=exc)
        busy = isinstance(exc, HubSpotApiError) and exc.details.status < 500
        return _Attempt(failed, no_answer=True, busy=busy)
    except ClientStoppedError as exc:
        if writing and exc.unanswered:
            return _Attempt(
                row(Outcome.ERROR, f"stopped while the PATCH was sent; {maybe_written_note(target.status_type)}")
            )
        return _Attempt(row(Outcome.NOT_ATTEMPTED, "stopped before this message was written"))
    except HubSpotApiError as exc:
        # A final answer (400, 409, 422, ...) repeats on every retry of the task: refused, not a transient error.
        outcome = Outcome.ERROR if exc.retry_may_succeed else Outcome.REFUSED
        return _Attempt(row(outcome, client.redact(str(exc)), correlation_id=exc.correlation_id))
    except HubSpotChannelsError as exc:
        return _Attempt(row(Outcome.ERROR, client.redact(str(exc))))
    except Exception as exc:
        # Whatever went wrong, the message gets its row and the batch goes on: an outcome is never lost. The text of
        # an exception from the HTTP stack can hold a header value: redacted like every other text we report.
        return _Attempt(row(Outcome.ERROR, client.redact(f"unexpected {type(exc).__name__}: {exc}")))


#: Outcomes whose row shows the explanation that was (or would be) sent.
_SHOWS_TEXT = WRITE_OUTCOMES | frozenset(DRY_RUN_TWINS.values())


class _BatchRun:
    """The shared state of one run. One lock guards the plan, the report, the sink and the counters.

    Each worker takes its next decision and records its last outcome under the lock, and talks to HubSpot outside
    it. No executor: a future per message and handing every message between threads cost more CPU than the HTTP
    stack (benchmarks, scenario 4). Which decision a worker takes, and which client serves it, is
    :mod:`.accounts`'s.
    """

    def __init__(
        self,
        decisions: Iterable[Decision],
        client: MessageStatusClient | AccountRouter,
        *,
        report: RunReport,
        sink: Callable[[MessageOutcome], None],
        verify_status: bool,
        dry_run: bool,
        stop: threading.Event,
        readers: Callable[[MessageStatusClient], MessageReader],
        max_concurrency: int,
    ) -> None:
        self.client, self.multi = as_router(client)
        self.scheduler = Scheduler(
            iter(decisions), size=window_size(max_concurrency, multi=self.multi), multi=self.multi
        )
        self.readers = Readers(readers)
        self.report = report
        self.sink = sink
        self.verify_status = verify_status
        self.dry_run = dry_run
        self.stop = stop
        self.lock = threading.Lock()
        self.stopped_reason: str | None = None
        self.stopping_error: HubSpotChannelsError | None = None
        self.stopped_accounts: dict[str, HubSpotChannelsError] = {}
        self.no_answer = 0  # messages in a row that ended in NO_ANSWER_ERRORS
        self.busy = False  # one of them was a 429/423 (the account is busy, not HubSpot down)
        self.hubspot_down = False
        self.failure: BaseException | None = None  # what a worker could not handle (the plan raised)
        self.unwritten = 0
        self.sink_error: str | None = None
        # Workers count themselves in and out; the calling thread waits on this condition (same lock).
        self.changed = threading.Condition(self.lock)
        # Workers whose window holds only accounts whose first message is in flight wait on this one.
        self.settled = threading.Condition(self.lock)
        self.workers_seen = 0
        self.workers_running = 0

    def stop_with(self, reason: str) -> None:
        """Stop the batch, naming why (lock held). The reason is set first: a row is never labelled 'killed'."""
        self.stopped_reason = self.stopped_reason or reason
        self.stop.set()

    def record(self, outcome: MessageOutcome) -> None:
        """Count a row and write it (lock held). A sink that fails loses the row's line, never the batch."""
        self.report.add(outcome)
        try:
            self.sink(outcome)
        except Exception as exc:
            self.unwritten += 1
            if self.sink_error is None:
                self.sink_error = self.client.redact(f"{type(exc).__name__}: {exc}")

    def not_attempted(self, decision: Decision) -> MessageOutcome:
        # Stopped without a reason of ours: the stop event came from outside (on_kill).
        self.stopped_reason = self.stopped_reason or "stopped: the task was killed"
        return _outcome(decision, Outcome.NOT_ATTEMPTED, f"not attempted, {self.stopped_reason}")

    def admit(self, decision: Decision) -> bool:
        """Whether a decision read from the plan goes to the window; records the rows that need no request."""
        if decision.action is Action.SKIP:
            self.record(decision_outcome(decision))
        elif self.stop.is_set():
            self.record(self.not_attempted(decision))
        else:
            account = self.scheduler.account(self.scheduler.key(decision))
            if account.state != "stopped":
                return True
            self.record(_outcome(decision, Outcome.NOT_ATTEMPTED, account.reason))
        return False

    def take(self) -> Decision | None:
        """The next decision to act on (lock held), None when the plan is used up or the batch stopped."""
        while True:
            if self.stop.is_set():
                for waiting in self.scheduler.drain():
                    self.record(self.not_attempted(waiting))
                self.scheduler.fill(self.admit)  # records every remaining row as not_attempted
                return None
            self.scheduler.fill(self.admit)
            chosen = self.scheduler.pick(ready)
            if chosen is not None or self.scheduler.done:
                return chosen
            # Every decision in the window waits for its account's first message: one of them settles soon.
            self.settled.wait(_JOIN_POLL)

    def act(self, decision: Decision) -> _Attempt:
        """One message against HubSpot through its account's client (lock not held)."""
        if self.stop.is_set():  # stopped since it was taken: no request may start now
            with self.lock:
                return _Attempt(self.not_attempted(decision))
        try:
            client = self.client.client_for(decision.portal_id)
        except HubSpotChannelsError as exc:  # the account has no usable credentials: it stops, the others go on
            return _Attempt(_outcome(decision, Outcome.NOT_ATTEMPTED, self.client.redact(str(exc))), exc)
        key = self.scheduler.key(decision)
        with self.lock:
            self.scheduler.account(key).client = client
            reader = self.readers.get(key, client)
        return _attempt(decision, client, reader, verify_status=self.verify_status, dry_run=self.dry_run)

    def settle(self, attempt: _Attempt, key: str) -> None:
        """Record an attempt and what it tells about its account and the batch (lock held)."""
        account = self.scheduler.account(key)
        if account.state == "probing":
            account.state = "open"
        self.settled.notify_all()
        error = attempt.stopping_error
        if error is not None and self.multi and not isinstance(error, NO_ANSWER_ERRORS):
            # One account's credentials, scope or daily limit: the other accounts go on.
            label = account_label(key)
            why = account_stop_reason(error, self.client.redact)
            reason, generic = attempt.outcome.reason, stop_reason(error)
            if reason.startswith(generic):  # the batch's words say only "refused": say what and the fix, as below
                reason = why + reason[len(generic) :]
            self.record(replace(attempt.outcome, reason=f"account {label}: {reason}"))
            if account.state != "stopped":
                account.state, account.error = "stopped", error
                account.reason = f"not attempted, account {label}: {why}"
                self.stopped_accounts[key] = error
                for decision in self.scheduler.drop(key):
                    self.record(_outcome(decision, Outcome.NOT_ATTEMPTED, account.reason))
            return
        if error is not None:
            self.stopping_error = self.stopping_error or error
            self.stop_with(stop_reason(error))
        elif attempt.no_answer:
            self.no_answer += 1
            self.busy = self.busy or attempt.busy
            if self.no_answer >= NO_ANSWER_LIMIT:
                self.hubspot_down = self.hubspot_down or (not self.busy and not self.stopped_reason)
                self.stop_with(
                    f"stopped: HubSpot did not answer {self.no_answer} messages in a row through every retry "
                    f"(last: {attempt.outcome.reason})"
                )
        else:
            self.no_answer, self.busy = 0, False
        self.record(attempt.outcome)

    def every_account_stopped(self) -> None:
        """At the end: when every account with rows to write stopped, the batch stopped (lock held)."""
        if not self.stopped_accounts or self.stopping_error is not None or self.stopped_reason is not None:
            return
        if all(account.state == "stopped" for account in self.scheduler.accounts.values()):
            self.stopping_error = next(iter(self.stopped_accounts.values()))
            first = account_stop_reason(self.stopping_error, self.client.redact)
            self.stopped_reason = f"stopped: every account stopped (first: {first})"

    def work(self, *, first_only: bool = False) -> None:
        """A worker: act on the plan's next decision until the plan is used up (or only once, ``first_only``)."""
        decision: Decision | None = None
        try:
            with self.lock:
                decision = self.take()
            while decision is not None:
                attempt = self.act(decision)
                with self.lock:
                    self.settle(attempt, self.scheduler.key(decision))
                    decision = None  # recorded: from here on an exception must not record it again
                    if not first_only:
                        decision = self.take()
        except BaseException as exc:  # the plan failed, or a client call raised what no one expects
            with self.lock:
                self.failure = self.failure or exc
                self.stop_with(f"stopped: the run failed ({type(exc).__name__})")
                if decision is not None:  # taken, maybe sent, never recorded: it gets its row
                    reason = f"{self.stopped_reason} while this message was being handled; HubSpot may show it FAILED"
                    self.record(_outcome(decision, Outcome.ERROR, reason))

    def worker(self, first_only: bool) -> None:
        """A worker thread's body: :meth:`work`, counted in and out."""
        with self.lock:
            self.workers_seen += 1
            self.workers_running += 1
        try:
            self.work(first_only=first_only)
        finally:
            with self.lock:
                self.workers_running -= 1
                self.changed.notify_all()

    def interrupted(self, exc: BaseException) -> None:
        """The calling thread was interrupted: stop the batch and the client's calls in flight."""
        with self.lock:
            self.stop_with(f"stopped: the run was interrupted ({type(exc).__name__})")
        self.client.stop()


def run_plan(
    decisions: Iterable[Decision],
    client: MessageStatusClient | AccountRouter,
    *,
    report: RunReport,
    sink: Callable[[MessageOutcome], None] = lambda _outcome: None,
    verify_status: bool = True,
    dry_run: bool = False,
    max_concurrency: int = 4,
    stop: threading.Event | None = None,
    readers: Callable[[MessageStatusClient], MessageReader] | None = None,
) -> RunResult:
    """Act on every decision and record one outcome per row in ``report`` and ``sink``.

    ``max_concurrency`` worker threads take decisions from the plan in turn; ``report`` and ``sink`` are called by
    one thread at a time, in completion order. An interrupt of the calling thread (``BaseException``: Airflow's
    execution timeout, ``KeyboardInterrupt``) is raised again once every row has its outcome.

    :param decisions: the domain's plan, in input order.
    :param client: the HubSpot client, or an :class:`~.accounts.AccountRouter` giving each account's client (rows
        name their account with ``portal_id``; an error that ends an account ends only its rows).
    :param report: the run's counts and examples.
    :param sink: receives every outcome as it completes (e.g. a JSON Lines writer); its errors are counted.
    :param verify_status: read each message's state first and apply the transition rules.
    :param dry_run: send no PATCH.
    :param max_concurrency: threads sending requests (for every account together).
    :param stop: set it to stop the batch (``on_kill``); rows not started become ``not_attempted``.
    :param readers: builds, on an account's client, where HubSpot's current state comes from with
        ``verify_status`` (default: one GET each; a ``StatusLookup`` verifies by thread).
    """
    stop = stop or threading.Event()
    started = time.monotonic()
    run = _BatchRun(
        decisions,
        client,
        report=report,
        sink=sink,
        verify_status=verify_status,
        dry_run=dry_run,
        stop=stop,
        readers=readers or _GetEach,
        max_concurrency=max_concurrency,
    )
    interrupt = _drive(run, max_concurrency)
    if interrupt is not None:
        raise interrupt
    if run.failure is not None:
        raise run.failure
    if stop.is_set() and run.stopped_reason is None:
        # Stopped from outside (on_kill) with every row handled: rows cut short by the stop are not_attempted,
        # and the operator must fail instead of reporting success.
        run.stopped_reason = "stopped: the task was killed"
    run.every_account_stopped()
    return RunResult(
        time.monotonic() - started,
        run.stopped_reason,
        run.stopping_error,
        run.unwritten,
        run.sink_error,
        hubspot_down=run.hubspot_down and run.stopping_error is None,
        stopped_accounts=dict(run.stopped_accounts),
    )


def _drive(run: _BatchRun, max_concurrency: int) -> BaseException | None:
    """Start the workers and wait until they are done; returns an interrupt of the calling thread, if any.

    An interrupt can land anywhere here, also inside ``Thread.start``: the loop then simply goes on. Workers count
    themselves (:meth:`_BatchRun.worker`), so a start whose thread did begin is never waited for in vain, and one
    that did not is made again (an extra worker after a stop only records ``not_attempted`` rows). No
    ``Thread.join``: on Python 3.11 an exception raised into it can mark a running thread as stopped.
    """
    interrupt: BaseException | None = None
    spawned = 0
    first_phase = True  # the first message alone: a refused credential then costs one request, not one per thread
    while True:
        try:
            wanted = 1 if first_phase else 1 + (max_concurrency if not run.stop.is_set() else 1)
            while spawned < wanted:
                threading.Thread(
                    target=run.worker, args=(first_phase,), name=f"hubspot-reconcile_{spawned}", daemon=True
                ).start()
                spawned += 1
            with run.changed:
                while run.workers_seen < spawned or run.workers_running:
                    run.changed.wait(_JOIN_POLL)
            if not first_phase:
                return interrupt
            first_phase = False
        except BaseException as exc:  # raised in this (the main) thread only: timeout, Ctrl-C
            interrupt = interrupt or exc
            run.interrupted(exc)
