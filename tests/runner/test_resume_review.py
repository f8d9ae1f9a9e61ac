"""Review A: resume defects, each test fails on the reviewed commit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.runner import progress
from airflow_provider_hubspot_channels.runner.progress import PROGRESS_KEY, DictStore, Progress
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONTEXT = {"data_interval_start": END - timedelta(minutes=15), "data_interval_end": END, "logical_date": END}


@pytest.fixture
def simulator() -> Iterator[HubSpotSimulator]:
    with HubSpotSimulator(rate_limit=None) as sim:
        yield sim


def batch_of(prefix: str, n: int) -> list[dict[str, Any]]:
    return [{"channel_id": 1001, "message_id": f"{prefix}-{i}", "created_at": "2026-11-24T10:00:00Z"} for i in range(n)]


def task_for(batch: list[dict[str, Any]], report: Any = None) -> ReconcileMessagesOperator:
    return ReconcileMessagesOperator(
        task_id="reconcile",
        messages=json.loads(json.dumps(batch)),
        stale_after=timedelta(minutes=15),
        max_concurrency=2,
        report_path=None if report is None else str(report),
    )


def test_garbage_with_an_infinite_watermark_is_ignored_not_a_crash(simulator, hubspot_conn):
    """A value of another shape in task_state_store must be ignored with a log line, never fail every try.

    JSON as Python writes it (Airflow stores json.dumps output) carries Infinity; ``int(inf)`` raises OverflowError,
    which ``Progress.from_json`` does not catch, so the task crashes on every retry until someone deletes the key.
    """
    for i in range(4):
        simulator.add_message(1001, f"m-{i}", created_at=END - timedelta(hours=2))
    store = DictStore()
    store.set(
        PROGRESS_KEY,
        {
            "format": 1,
            "fingerprint": "written by something else",
            "watermark": float("inf"),
            "above": [],
            "redo": [],
            "counts": {},
        },
    )
    summary = task_for(batch_of("m", 4)).execute({**CONTEXT, "task_state_store": store})
    assert summary["counts"]["marked_failed"] == 4


def test_a_kept_report_row_must_belong_to_this_batch(simulator, hubspot_conn, tmp_path, monkeypatch):
    """The earlier report is trusted on index and outcome counts only, never on which message a row names.

    A report path shared by runs (a static ``report_path``; another run, or a mapped sibling, rewrote it between the
    kill and the retry) with the same outcomes (a stale-only sweep marks every row FAILED) is accepted as this batch's
    earlier report: the retry keeps rows naming messages of another batch and the report (and write_back into the
    store) misses this batch's messages.
    """
    seen: list[str] = []
    real = progress.fingerprint

    def recording(batch: Any, settings: Any) -> str:
        seen.append(real(batch, settings))
        return seen[-1]

    monkeypatch.setattr(progress, "fingerprint", recording)
    for prefix in ("m", "x"):
        for i in range(4):
            simulator.add_message(1001, f"{prefix}-{i}", created_at=END - timedelta(hours=2))
    report = tmp_path / "report.jsonl"
    # This run's first try settled m-0, m-1 (and saved that); m-2, m-3 were not reached.
    store = DictStore()
    task_for(batch_of("m", 4)).execute({**CONTEXT, "task_state_store": DictStore()})  # learns the fingerprint
    store.set(PROGRESS_KEY, Progress(seen[-1], watermark=2, counts={"marked_failed": 2}).to_json())
    # Meanwhile another run wrote the same path with its own batch x-0..x-3 (all marked_failed).
    task_for(batch_of("x", 4), report).execute(CONTEXT)
    summary = task_for(batch_of("m", 4), report).execute({**CONTEXT, "task_state_store": store})
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert summary["total"] == 4
    assert sorted(r["message_id"] for r in rows) == ["m-0", "m-1", "m-2", "m-3"]


def test_a_resumed_batch_without_report_names_the_channels_an_earlier_try_settled(simulator, hubspot_conn, monkeypatch):
    """docs/operators.md: "A resumed batch's event counts the whole batch". Without a report file (the mapped
    discover-and-reconcile example has none) the counts do come from the saved progress, but ``channel_ids`` names
    only this try's channels: an alert routed by channel misses the channel whose rows the first try settled."""
    from airflow_provider_hubspot_channels.operators import batch as batch_module

    seen: list[str] = []
    real = progress.fingerprint

    def recording(batch: Any, settings: Any) -> str:
        seen.append(real(batch, settings))
        return seen[-1]

    extras: list[dict[str, Any]] = []
    monkeypatch.setattr(progress, "fingerprint", recording)
    monkeypatch.setattr(batch_module, "attach_to_outlet_events", lambda task, extra: extras.append(dict(extra)))
    rows = [
        {"channel_id": channel, "message_id": f"m-{i}", "created_at": "2026-11-24T10:00:00Z"}
        for i, channel in enumerate((1001, 1001, 1002, 1002))
    ]
    simulator.add_channel(1002)
    for row in rows:
        simulator.add_message(row["channel_id"], row["message_id"], created_at=END - timedelta(hours=2))
    task_for(rows).execute({**CONTEXT, "task_state_store": DictStore()})  # learns the fingerprint
    store = DictStore()
    # The first try settled rows 0 and 1 (channel 1001) and was killed.
    store.set(PROGRESS_KEY, Progress(seen[-1], watermark=2, counts={"marked_failed": 2}).to_json())
    summary = task_for(rows).execute({**CONTEXT, "task_state_store": store})
    assert summary["total"] == 4 and summary["resumed_rows"] == 2
    assert extras[-1]["channel_ids"] == ["1001", "1002"]


def test_a_record_with_a_non_string_key_does_not_fail_the_task_on_airflow_3_3(simulator, hubspot_conn):
    """The plan ignores fields it does not know, and Airflow 3.2 runs this batch; on 3.3 the fingerprint's
    ``json.dumps(..., sort_keys=True)`` raises TypeError on mixed key types and the task fails before any request."""
    for i in range(2):
        simulator.add_message(1001, f"m-{i}", created_at=END - timedelta(hours=2))
    batch = [
        {"channel_id": 1001, "message_id": f"m-{i}", "created_at": "2026-11-24T10:00:00Z", "meta": {1: "a", "b": 2}}
        for i in range(2)
    ]
    without_store = ReconcileMessagesOperator(task_id="r", messages=batch, stale_after=timedelta(minutes=15))
    assert without_store.execute(dict(CONTEXT))["total"] == 2  # Airflow 3.1/3.2: no task_state_store
    with_store = ReconcileMessagesOperator(task_id="r", messages=batch, stale_after=timedelta(minutes=15))
    assert with_store.execute({**CONTEXT, "task_state_store": DictStore()})["total"] == 2
