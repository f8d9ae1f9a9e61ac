"""Interrupts (execution timeout, Ctrl-C) and kills mid-batch: every row still gets exactly one outcome."""

from __future__ import annotations

import threading
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


class Client:
    """A status client that raises ``Interrupted`` on one message and counts the calls."""

    def __init__(self, interrupt_on: str) -> None:
        self.interrupt_on = interrupt_on
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def get_message(self, channel_id: int | str, message_id: str) -> dict[str, Any]:
        return {"id": message_id}

    def update_message_status(
        self, channel_id: int | str, message_id: str, status_type: str, error_message: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            self.calls.append(message_id)
        if message_id == self.interrupt_on:
            raise Interrupted
        return {"id": message_id}

    def unanswered_attempts(self) -> int:
        return 0


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
    assert interrupted.outcome is Outcome.ERROR and "interrupted (Interrupted)" in interrupted.reason
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

    class Stoppable:
        def get_message(self, channel_id: int | str, message_id: str) -> dict[str, Any]:
            return {"id": message_id}

        def update_message_status(self, channel_id: int | str, message_id: str, *args: Any) -> dict[str, Any]:
            if message_id == "m-0":
                return {"id": message_id}
            in_flight.wait(timeout=10)
            stop.wait(timeout=10)
            raise ClientStoppedError("stopped")

        def unanswered_attempts(self) -> int:
            return 0

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
