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
errors above that concern one account (daily limit, refused token or scope, missing credentials, a setup error of
its own connection: TLS, invalid URL) stop only that account: its remaining rows are ``not_attempted`` naming it and
the fix, and :attr:`RunResult.stopped_accounts` lists it. :data:`NO_ANSWER_LIMIT` messages of one account in a row
refused as rate limited (429/423) through every retry stop only that account (``busy``: not a final error, so it is
not in ``stopped_accounts``; its error rows let the task's retries finish it); HubSpot giving no answer (5xx,
timeouts) still stops the batch. The first message goes alone per account, and workers prefer accounts that can send
now (:mod:`.accounts`). A run that fails (the plan raised, or something no one expects) gives every row read its
``not_attempted`` row before the failure is raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from airflow_provider_hubspot_channels.client import (
    HubSpotChannelsError,
)
from airflow_provider_hubspot_channels.reconciliation import (
    Action,
    Decision,
    MessageOutcome,
    Outcome,
    RunReport,
    decision_outcome,
)
from airflow_provider_hubspot_channels.runner.accounts import (
    AccountRouter,
    Readers,
    Scheduler,
    account_label,
    as_router,
    window_size,
)
from airflow_provider_hubspot_channels.runner.attempt import (
    Attempt,
    GetEach,
    MessageReader,
    MessageStatusClient,
    attempt_one,
    outcome_row,
)
from airflow_provider_hubspot_channels.runner.reasons import account_stop_reason, ready, stop_reason

if TYPE_CHECKING:
    pass

#: This many messages in a row ending in :data:`NO_ANSWER_ERRORS` stop the batch: HubSpot is down or hung, and
#: going on would hold the task for a time proportional to the batch instead of a bounded one.
NO_ANSWER_LIMIT = 3
#: Seconds between two checks of the workers while the calling thread waits (it wakes for interrupts anyway).
_JOIN_POLL = 0.5


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
        return outcome_row(decision, Outcome.NOT_ATTEMPTED, f"not attempted, {self.stopped_reason}")

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
            self.record(outcome_row(decision, Outcome.NOT_ATTEMPTED, account.reason))
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

    def act(self, decision: Decision) -> Attempt:
        """One message against HubSpot through its account's client (lock not held)."""
        if self.stop.is_set():  # stopped since it was taken: no request may start now
            with self.lock:
                return Attempt(self.not_attempted(decision))
        try:
            client = self.client.client_for(decision.portal_id)
        except HubSpotChannelsError as exc:  # the account has no usable credentials: it stops, the others go on
            return Attempt(outcome_row(decision, Outcome.NOT_ATTEMPTED, self.client.redact(str(exc))), exc)
        key = self.scheduler.key(decision)
        with self.lock:
            self.scheduler.account(key).client = client
            reader = self.readers.get(key, client)
        return attempt_one(decision, client, reader, verify_status=self.verify_status, dry_run=self.dry_run)

    def settle(self, attempt: Attempt, key: str) -> None:
        """Record an attempt and what it tells about its account and the batch (lock held)."""
        account = self.scheduler.account(key)
        if account.state == "probing":
            account.state = "open"
        self.settled.notify_all()
        error = attempt.stopping_error
        if error is not None and self.multi:
            # One account's credentials, scope, daily limit or connection settings (TLS, URL: a setup error of its
            # own connection): the other accounts go on.
            label = account_label(key)
            # A credentials error names its account itself: the reason names it once.
            why = account_stop_reason(error, self.client.redact).replace(f"stopped: account {label}: ", "stopped: ", 1)
            reason, generic = attempt.outcome.reason, stop_reason(error)
            if reason.startswith(generic):  # the batch's words say only "refused": say what and the fix, as below
                reason = why + reason[len(generic) :]
            if not reason.startswith(f"account {label}: "):
                reason = f"account {label}: {reason}"
            self.record(replace(attempt.outcome, reason=reason))
            if account.state != "stopped":
                self.stop_account(key, f"not attempted, account {label}: {why}")
                account.error = self.stopped_accounts[key] = error
            return
        if self.multi and attempt.busy:
            # 429/423 through every retry: this account is busy (its own integrations use its limit), HubSpot is up.
            # Only this account stops at the limit; the batch-wide streak is for HubSpot giving no answer.
            account.busy += 1
            self.record(attempt.outcome)
            if account.busy >= NO_ANSWER_LIMIT and account.state != "stopped":
                self.stop_account(
                    key,
                    f"not attempted, account {account_label(key)}: busy: {account.busy} messages in a row were "
                    f"refused as rate limited through every retry (last: {attempt.outcome.reason}); run again when "
                    "the account's other integrations use less of its limit",
                )
            return
        if not attempt.no_answer:
            account.busy = 0
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

    def stop_account(self, key: str, reason: str) -> None:
        """Stop one account: its rows in the window, and those read later, get ``reason`` (lock held)."""
        account = self.scheduler.account(key)
        account.state, account.reason = "stopped", reason
        for decision in self.scheduler.drop(key):
            self.record(outcome_row(decision, Outcome.NOT_ATTEMPTED, reason))

    def abandon(self) -> None:
        """The run failed: every row in the window and the rest of the plan gets its ``not_attempted`` row (lock
        held, stop set). A plan that raises again ends there: it has no further rows to give."""
        for waiting in self.scheduler.drain():
            self.record(self.not_attempted(waiting))
        try:
            self.scheduler.fill(self.admit)
        except BaseException:  # the plan itself failed; the first failure is the one raised
            self.scheduler.exhausted = True
            self.scheduler.window.clear()
            raise

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
                    self.record(outcome_row(decision, Outcome.ERROR, reason))
                # No other worker may be left to record the rest: every row read gets its row before the raise.
                with suppress(BaseException):
                    self.abandon()

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

    :param decisions: the domain's plan, in its order.
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
        readers=readers or GetEach,
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
