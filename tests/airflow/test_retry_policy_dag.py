"""HubSpotRetryPolicy in a real Airflow run: ``dag.test()`` of the example DAG, its task failing against the simulator.

A task put up for retry with a delay of hours would keep ``dag.test()`` waiting for it: a watcher thread reads the
task instance from Airflow's database once it is ``up_for_retry`` (what the scheduler would act on) and then marks it
failed, as a user would in the UI, so that the run ends.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.operators.retry_policy import (
    RETRY_POLICIES_SUPPORTED,
    HubSpotRetryPolicy,
    next_daily_reset,
)
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
from tests.airflow.test_example_dags import get_dag
from tests.conftest import connection_json

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(not RETRY_POLICIES_SUPPORTED, reason="task retry policies arrived in Airflow 3.3"),
]

DAG_ID = "example_hubspot_update_message_status"
TASK_ID = "update_message_status"
RUN_CONF = {"channel_id": 1001, "message_id": "m-1", "status_type": "SENT"}


#: How long the watcher waits for ``up_for_retry`` before it ends the run (well under pytest's 300 s timeout).
WATCH_SECONDS = 180


class RetryWatcher(threading.Thread):
    """Waits for the task instance to be ``up_for_retry``, notes what Airflow stored, then marks it failed."""

    def __init__(self, dag_id: str = DAG_ID, task_id: str = TASK_ID) -> None:
        super().__init__(daemon=True)
        self.dag_id, self.task_id = dag_id, task_id
        self.seen: dict[str, Any] | None = None
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        # The watcher must outlive any slowness: if it died or gave up, dag.test() would wait out the retry delay,
        # and pytest-timeout cannot end it (the in-process task's own timeout resets the alarm it relies on). Seen
        # in CI on a loaded machine: the test hung for the whole step. So a failed look (SQLite refusing while
        # dag.test() writes) is tried again, and from the deadline on the DAG's unfinished task instances are marked
        # failed until dag.test() returns, so the test fails on its assertions instead.
        deadline = time.monotonic() + WATCH_SECONDS
        while not self.done.is_set():
            try:
                if self._look(give_up=time.monotonic() > deadline):
                    return
            except Exception as exc:  # e.g. "database is locked": look again
                self.errors.append(repr(exc))
            time.sleep(0.2)  # after the deadline too: a task instance created or retried later is failed as well

    def _look(self, *, give_up: bool) -> bool:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            query = select(TaskInstance).where(TaskInstance.dag_id == self.dag_id)
            instances = list(session.scalars(query))
            for ti in instances:
                if ti.task_id == self.task_id and ti.state == "up_for_retry":
                    self.seen = {
                        "try_number": ti.try_number,
                        "max_tries": ti.max_tries,
                        "end_date": ti.end_date,
                        "retry_delay_override": ti.retry_delay_override,
                        "retry_reason": ti.retry_reason,
                    }
                    if ti.retry_delay_override is not None:  # else it needs the task's own retry_delay
                        self.seen["next_retry"] = ti.next_retry_datetime()
                    ti.state = "failed"  # what "Mark failed" does: the run can end
                    return True
            if give_up:
                for ti in instances:
                    if ti.state not in ("success", "failed", "skipped", "upstream_failed", "removed"):
                        ti.state = "failed"
        return False


def run_failing_task(
    monkeypatch: pytest.MonkeyPatch, sim: HubSpotSimulator, policy: HubSpotRetryPolicy | None, token: str = ""
):
    """``dag.test()`` of the example with ``retries=3`` (and ``policy``) against ``sim``; the watcher's notes."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
        connection_json(sim.base_url, password=token or sim.access_token, max_retries=0),
    )
    dag = get_dag(DAG_ID)
    task = dag.task_dict[TASK_ID]
    task.retries = 3
    task.retry_delay = timedelta(seconds=300)
    task.retry_policy = policy
    watcher = RetryWatcher()
    watcher.start()
    try:
        dag_run = dag.test(run_conf=RUN_CONF, logical_date=None)
    finally:
        watcher.done.set()
        watcher.join(5)
    states = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    return dag_run, states[TASK_ID], watcher.seen


def spend_the_day(sim: HubSpotSimulator) -> None:
    """One real GET: the simulator's daily limit of 1 is then spent."""
    import requests

    url = f"{sim.base_url}/conversations/custom-channels/2026-03/1001/messages/m-1"
    requests.get(url, headers={"Authorization": f"Bearer {sim.access_token}"}, timeout=5).raise_for_status()


def test_a_refused_token_fails_the_task_without_using_its_retries(airflow_db, monkeypatch):
    with HubSpotSimulator() as sim:
        sim.add_message(1001, "m-1")
        # a token HubSpot does not know: 401
        dag_run, (state, try_number), retried = run_failing_task(monkeypatch, sim, HubSpotRetryPolicy(), "x" * 40)
        api_calls = [e for e in sim.request_log if not e.path.startswith("/oauth")]
    assert dag_run.state == "failed" and state == "failed" and try_number == 1
    assert retried is None and len(api_calls) == 1


def test_the_daily_limit_puts_the_task_up_for_retry_after_the_reset(airflow_db, monkeypatch):
    with HubSpotSimulator(daily_limit=1) as sim:
        sim.add_message(1001, "m-1")
        spend_the_day(sim)
        started = datetime.now(timezone.utc)
        _, _, retried = run_failing_task(monkeypatch, sim, HubSpotRetryPolicy(account_timezone="UTC"))
    assert retried is not None, "the task never went up_for_retry"
    assert retried["try_number"] == 1 and retried["max_tries"] == 3
    expected = next_daily_reset(started, "UTC") + timedelta(minutes=5)
    delay = timedelta(seconds=retried["retry_delay_override"])
    # the delay was computed between `started` and the task's end
    assert expected - retried["end_date"] <= delay <= expected - started
    assert abs(retried["next_retry"] - expected) < timedelta(seconds=60)
    assert "daily limit" in retried["retry_reason"]


def test_hubspot_down_retries_with_the_longer_delay(airflow_db, monkeypatch):
    with HubSpotSimulator(faults=FaultConfig(p_503=1.0)) as sim:
        sim.add_message(1001, "m-1")
        policy = HubSpotRetryPolicy(unavailable_delay=timedelta(minutes=15))
        _, _, retried = run_failing_task(monkeypatch, sim, policy)
    assert retried is not None, "the task never went up_for_retry"
    assert retried["retry_delay_override"] == 900.0  # not the task's retry_delay of 300 s
    assert "did not answer" in retried["retry_reason"]


def test_without_a_policy_the_daily_limit_still_fails_at_once(airflow_db, monkeypatch):
    with HubSpotSimulator(daily_limit=1) as sim:
        sim.add_message(1001, "m-1")
        spend_the_day(sim)
        dag_run, (state, try_number), retried = run_failing_task(monkeypatch, sim, None)
    assert dag_run.state == "failed" and state == "failed" and try_number == 1 and retried is None


def test_a_batch_stopped_because_hubspot_does_not_answer_retries_with_the_longer_delay(
    airflow_db, monkeypatch, fresh_store
):
    from tests.airflow.test_example_dags import seed

    end = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
    with HubSpotSimulator() as sim:
        seed(sim, fresh_store, [(f"stale-{n}", 30, "pending", None) for n in range(5)], end=end)
        sim.set_faults(FaultConfig(p_503=1.0))
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, max_retries=0),
        )
        dag = get_dag("example_hubspot_reconcile_messages")
        task = dag.task_dict["reconcile"]
        task.retries, task.retry_delay = 3, timedelta(seconds=300)
        task.retry_policy = HubSpotRetryPolicy(unavailable_delay=timedelta(minutes=15))
        watcher = RetryWatcher("example_hubspot_reconcile_messages", "reconcile")
        watcher.start()
        try:
            dag.test(logical_date=end)
        finally:
            watcher.done.set()
            watcher.join(5)
    assert watcher.seen is not None, f"the task never went up_for_retry (watcher errors: {watcher.errors[-3:]})"
    assert watcher.seen["retry_delay_override"] == 900.0
    assert "did not answer" in watcher.seen["retry_reason"]


@pytest.fixture
def fresh_store():
    import os

    path = os.environ["HUBSPOT_CHANNELS_STORE"]
    if os.path.exists(path):
        os.remove(path)
    return path
