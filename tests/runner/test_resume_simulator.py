"""A batch killed half-way, then retried with the store its first try saved to: real HTTP against the simulator.

The operators' ``execute`` runs with a context whose ``task_state_store`` is a dict-backed store (Airflow 3.3's
holds the same JSON); the kill is ``on_kill`` from another thread once the simulator has answered about half the
batch, as Airflow does on a timeout or a manual kill. What the retry costs is counted in the simulator's request log.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.operators.errors import AirflowException
from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.runner import progress
from airflow_provider_hubspot_channels.runner.progress import PROGRESS_KEY, DictStore, Progress
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONTEXT = {"data_interval_start": END - timedelta(minutes=15), "data_interval_end": END, "logical_date": END}
COUNT = 40


@pytest.fixture
def simulator() -> Iterator[HubSpotSimulator]:
    """Slow enough answers that a kill lands mid-batch."""
    with HubSpotSimulator(rate_limit=None, latency=0.05) as sim:
        yield sim


@pytest.fixture(autouse=True)
def frequent_saves(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 40-row batch would otherwise finish before the first save (200 rows or 5 s)."""
    monkeypatch.setattr(progress, "SAVE_EVERY_ROWS", 4)


def message_id(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def kill_when(sim: HubSpotSimulator, task: Any, patches: int) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(e.method == "PATCH" for e in sim.request_log) >= patches:
                task.on_kill()
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def settled(sim: HubSpotSimulator, quiet: float = 0.5, limit: float = 15.0) -> None:
    """Wait until requests the killed try had in flight have landed: the client gave up on them, the simulator still
    answers (and logs) them after its latency; on a loaded machine that can be after the retry began, where they
    would be counted as the retry's. Quiet = no new log entry for ``quiet`` s (10x the latency), bounded."""
    deadline = time.monotonic() + limit
    seen, since = len(sim.request_log), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.02)
        if len(sim.request_log) != seen:
            seen, since = len(sim.request_log), time.monotonic()


def killed_then_retried(sim: HubSpotSimulator, make_task: Any, report: Path) -> dict[str, Any]:
    store = DictStore()
    context = {**CONTEXT, "task_state_store": store}
    first = make_task()
    watcher = kill_when(sim, first, COUNT // 2)
    with pytest.raises(AirflowException, match="killed"):
        first.execute(context)
    watcher.join()
    settled(sim)
    saved = Progress.from_json(store.data[PROGRESS_KEY])
    assert saved is not None and 0 < saved.covered < COUNT
    failed_after_first = {m["id"] for m in sim.list_messages(1001) if (m.get("status") or {}).get("statusType")}
    before = len(sim.request_log)
    summary = make_task().execute(context)  # the retry: a new operator instance, the same task instance's store
    retry = sim.request_log[before:]
    covered = {f"m-{i}" for i in range(COUNT) if saved.covers(i)}
    # Nothing the saved progress covers is asked again; the rest costs a GET, and a PATCH only where none landed.
    assert not covered & {message_id(e.path) for e in retry}
    assert len(retry) <= 2 * (COUNT - len(failed_after_first)) + len(failed_after_first - covered)
    assert summary["total"] == COUNT and summary["resumed_rows"] == saved.covered
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(COUNT))  # every row once: kept rows + the retry's
    assert PROGRESS_KEY not in store.data  # a complete batch clears its progress
    for i in range(COUNT):  # every message FAILED, written once: the in-flight ones came out already_correct
        assert [h["statusType"] for h in sim.status_history(1001, f"m-{i}")] == ["FAILED"]
    return summary


def test_a_reconciliation_killed_half_way_resumes_where_it_stopped(simulator, hubspot_conn, tmp_path):
    for i in range(COUNT):
        simulator.add_message(1001, f"m-{i}", created_at=END - timedelta(hours=2))
    batch = [{"channel_id": 1001, "message_id": f"m-{i}", "created_at": "2026-11-24T10:00:00Z"} for i in range(COUNT)]
    report = tmp_path / "report.jsonl"

    def make_task() -> ReconcileMessagesOperator:
        return ReconcileMessagesOperator(
            task_id="reconcile",
            messages=json.loads(json.dumps(batch)),  # re-rendered, identical
            stale_after=timedelta(minutes=15),
            max_concurrency=4,
            report_path=str(report),
        )

    summary = killed_then_retried(simulator, make_task, report)
    counts = {k: v for k, v in summary["counts"].items() if v}
    assert set(counts) <= {"marked_failed", "already_correct"} and sum(counts.values()) == COUNT


def test_a_batch_of_updates_killed_half_way_resumes_where_it_stopped(simulator, hubspot_conn, tmp_path):
    for i in range(COUNT):
        simulator.add_message(1001, f"m-{i}")
    updates = [{"channel_id": 1001, "message_id": f"m-{i}", "status_type": "FAILED"} for i in range(COUNT)]
    report = tmp_path / "updates.jsonl"

    def make_task() -> UpdateMessageStatusOperator:
        return UpdateMessageStatusOperator(
            task_id="update", updates=list(updates), max_concurrency=4, report_path=str(report)
        )

    killed_then_retried(simulator, make_task, report)


def test_a_changed_batch_starts_over(simulator, hubspot_conn, tmp_path):
    for i in range(4):
        simulator.add_message(1001, f"m-{i}", created_at=END - timedelta(hours=2))
    batch = [{"channel_id": 1001, "message_id": f"m-{i}", "created_at": "2026-11-24T10:00:00Z"} for i in range(4)]
    store = DictStore()
    store.set(PROGRESS_KEY, Progress("another batch", 4, counts={"marked_failed": 4}).to_json())
    task = ReconcileMessagesOperator(task_id="reconcile", messages=batch, stale_after=timedelta(minutes=15))
    summary = task.execute({**CONTEXT, "task_state_store": store})
    assert summary["counts"]["marked_failed"] == 4 and "resumed_rows" not in summary
