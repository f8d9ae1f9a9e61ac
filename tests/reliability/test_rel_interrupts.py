"""Interrupts (execution timeout, Ctrl-C) and kills mid-batch: every row still gets exactly one outcome."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.client.client import ClientStoppedError
from airflow_provider_hubspot_channels.reconciliation import Outcome, RunReport, StalenessPolicy, plan
from airflow_provider_hubspot_channels.runner.reconcile import run_plan

NOW = datetime(2026, 11, 24, 12, tzinfo=timezone.utc)


class Interrupted(BaseException):
    """Stands for what Airflow raises in a task on its execution timeout, or Ctrl-C: not an ``Exception``."""


def batch(count: int) -> list[dict[str, Any]]:
    return [{"channel_id": 1, "message_id": f"m-{i}", "created_at": "2026-11-24T10:00:00Z"} for i in range(count)]


@dataclass(frozen=True)
class Answer:
    """What the client's calls return (the runner reads these three fields)."""

    body: dict[str, Any] = field(default_factory=dict)
    requests: int = 1
    unanswered: int = 0


class StatusClient:
    """The runner's side of the client without HTTP: answers every call at once."""

    def read_message(self, channel_id: int | str, message_id: str) -> Answer:
        return Answer({"id": message_id})

    def write_status(self, update: Any) -> Answer:
        return Answer({"id": update.message_id})

    def redact(self, text: str) -> str:
        return text

    def stop(self) -> None:
        pass


class Client(StatusClient):
    """A status client that raises ``Interrupted`` on one message and counts the calls."""

    def __init__(self, interrupt_on: str) -> None:
        self.interrupt_on = interrupt_on
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def write_status(self, update: Any) -> Answer:
        with self.lock:
            self.calls.append(update.message_id)
        if update.message_id == self.interrupt_on:
            raise Interrupted
        return Answer({"id": update.message_id})


def run(client: Any, count: int, max_concurrency: int = 4) -> tuple[list[Any], RunReport]:
    rows: list[Any] = []
    report = RunReport()
    decisions = plan(batch(count), StalenessPolicy(timedelta(minutes=15), NOW))
    with pytest.raises(Interrupted):
        run_plan(
            decisions, client, report=report, sink=rows.append, verify_status=False, max_concurrency=max_concurrency
        )
    return rows, report


@pytest.mark.parametrize("interrupt_on", ["m-0", "m-7"], ids=["first message (alone)", "a message mid-batch"])
def test_an_interrupt_re_raises_after_every_row_got_its_outcome(interrupt_on: str) -> None:
    client = Client(interrupt_on)
    rows, report = run(client, 20)
    assert sorted(row.index for row in rows) == list(range(20))  # one row each, none twice
    (interrupted,) = [row for row in rows if row.message_id == interrupt_on]
    assert interrupted.outcome is Outcome.ERROR and "failed (Interrupted)" in interrupted.reason
    # Nothing new is sent once the interrupt is seen: only messages already taken by a thread may still go.
    assert len(client.calls) <= client.calls.index(interrupt_on) + 4
    not_attempted = [row for row in rows if row.outcome is Outcome.NOT_ATTEMPTED]
    assert len(not_attempted) == 20 - len(client.calls)
    assert report.counts[Outcome.MARKED_FAILED.value] == len(client.calls) - 1


def test_a_kill_after_the_plan_is_used_up_still_reports_the_batch_as_stopped() -> None:
    # The last messages are in flight when on_kill sets the stop; their calls end with ClientStoppedError. With no
    # row left to take, the run must still say it was stopped, so that the operator fails instead of succeeding.
    stop = threading.Event()
    in_flight = threading.Barrier(4 + 1)

    class Stoppable(StatusClient):
        def write_status(self, update: Any) -> Answer:
            if update.message_id == "m-0":
                return Answer({"id": update.message_id})
            in_flight.wait(timeout=10)
            stop.wait(timeout=10)
            raise ClientStoppedError("stopped")

    def kill() -> None:
        in_flight.wait(timeout=10)  # the four last messages are in flight and the plan is used up
        stop.set()

    killer = threading.Thread(target=kill)
    killer.start()
    report, rows = RunReport(), []
    result = run_plan(
        plan(batch(5), StalenessPolicy(timedelta(minutes=15), NOW)),
        Stoppable(),
        report=report,
        sink=rows.append,
        verify_status=False,
        max_concurrency=4,
        stop=stop,
    )
    killer.join(10)
    assert result.stopped_reason is not None and "killed" in result.stopped_reason
    assert report.counts[Outcome.NOT_ATTEMPTED.value] == 4 and report.counts[Outcome.MARKED_FAILED.value] == 1


@pytest.mark.parametrize("after_ms", [1, 3, 7, 15, 30])
def test_an_interrupt_of_the_calling_thread_anywhere_leaves_one_row_per_record(after_ms: int) -> None:
    # Airflow's execution timeout raises in the main thread between any two bytecodes: inside the lazy plan (which
    # would finish the generator and lose every later row), between counting a row and writing it, or while waiting.
    count = 4000
    rows: list[Any] = []
    report = RunReport()
    stop = threading.Event()
    decisions = plan(batch(count), StalenessPolicy(timedelta(minutes=15), NOW))
    previous = signal.signal(signal.SIGALRM, _raise_interrupted)
    try:
        signal.setitimer(signal.ITIMER_REAL, after_ms / 1000)
        with pytest.raises(Interrupted):
            run_plan(iter(decisions), StatusClient(), report=report, sink=rows.append, verify_status=False, stop=stop)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert sorted(row.index for row in rows) == list(range(count))  # every record once, none twice
    assert report.total == count
    assert report.counts[Outcome.MARKED_FAILED.value] + report.counts[Outcome.NOT_ATTEMPTED.value] == count
    assert all("interrupted (Interrupted)" in row.reason for row in rows if row.outcome is Outcome.NOT_ATTEMPTED)
    assert stop.is_set()


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted


def test_a_sink_that_fails_loses_its_line_never_the_batch() -> None:
    # A report row that cannot be written (disk full, an unencodable text) must not stop the reconciliation.
    written: list[Any] = []

    def sink(outcome: Any) -> None:
        if outcome.index in (3, 11):
            raise UnicodeEncodeError("utf-8", "\ud83d", 0, 1, "surrogates not allowed")
        written.append(outcome)

    report = RunReport()
    result = run_plan(
        plan(batch(20), StalenessPolicy(timedelta(minutes=15), NOW)),
        StatusClient(),
        report=report,
        sink=sink,
        verify_status=False,
    )
    assert result.stopped_reason is None and result.unwritten_rows == 2
    assert result.sink_error is not None and "UnicodeEncodeError" in result.sink_error
    assert report.counts[Outcome.MARKED_FAILED.value] == 20 and len(written) == 18


def test_a_failing_plan_names_itself_not_a_kill() -> None:
    # The plan is the domain's; if it ever raised, the stop must say so instead of blaming a kill.
    def broken_plan() -> Any:
        yield from plan(batch(3), StalenessPolicy(timedelta(minutes=15), NOW))
        raise RuntimeError("the plan broke")

    rows: list[Any] = []
    with pytest.raises(RuntimeError):
        run_plan(broken_plan(), StatusClient(), report=RunReport(), sink=rows.append, verify_status=False)
    assert len(rows) == 3 and not any("killed" in row.reason for row in rows)


def test_a_patch_answered_with_read_is_not_reported_as_marked_failed() -> None:
    # HubSpot may keep READ and answer the PATCH with it (its transition rules are undocumented): say so.
    class KeepsRead(StatusClient):
        def write_status(self, update: Any) -> Answer:
            return Answer({"id": update.message_id, "status": {"statusType": "READ"}})

    rows: list[Any] = []
    run_plan(
        plan(batch(2), StalenessPolicy(timedelta(minutes=15), NOW)),
        KeepsRead(),
        report=RunReport(),
        sink=rows.append,
        verify_status=False,
    )
    assert {row.outcome for row in rows} == {Outcome.SKIPPED_READ_IN_HUBSPOT}
    assert {row.hubspot_status_after for row in rows} == {"READ"}
    assert all("keeps READ" in row.reason for row in rows)


def test_an_interrupt_cuts_off_the_requests_in_flight(monkeypatch):
    # Airflow's execution timeout must end the task promptly, not after HubSpot's slowest answer (up to the attempt
    # deadline, 40 s with the defaults): the run stops the client, which cuts off the requests in flight.
    import time

    from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient
    from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator

    with HubSpotSimulator(faults=FaultConfig(p_slow=1.0, slow_seconds=8)) as sim:
        sim.add_channel(1)
        for i in range(4):
            sim.add_message(1, f"m-{i}", created_at="2026-11-24T10:00:00Z")
        config = ClientConfig(base_url=sim.base_url, timeout=20, max_retries=0)
        with HubSpotChannelsClient(config=config, access_token=sim.access_token) as client:
            rows: list[Any] = []
            previous = signal.signal(signal.SIGALRM, _raise_interrupted)
            started = time.monotonic()
            try:
                signal.setitimer(signal.ITIMER_REAL, 0.5)
                with pytest.raises(Interrupted):
                    run_plan(
                        plan(batch(4), StalenessPolicy(timedelta(minutes=15), NOW)),
                        client,
                        report=RunReport(),
                        sink=rows.append,
                        verify_status=False,
                    )
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed  # the slow answers would take 8 s
    assert sorted(row.index for row in rows) == [0, 1, 2, 3]
    # The PATCH in flight may have landed: its row says so instead of "not attempted".
    assert any(row.outcome is Outcome.ERROR and "may show FAILED" in row.reason for row in rows), rows
