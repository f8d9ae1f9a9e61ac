"""ReconcileStaleMessagesOperator against the simulator over real HTTP (``execute`` with a run's context)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_hubspot_channels.operators.errors import AirflowException, AirflowFailException
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileStaleMessagesOperator

END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONTEXT = {"data_interval_start": END - timedelta(minutes=15), "data_interval_end": END, "logical_date": END}


def iso(minutes_before_end: float) -> str:
    return (END - timedelta(minutes=minutes_before_end)).isoformat()


def operator(messages, **kwargs):
    kwargs.setdefault("stale_after", timedelta(minutes=15))
    return ReconcileStaleMessagesOperator(task_id="reconcile", messages=messages, **kwargs)


@pytest.fixture
def held_out_batch(simulator):
    """Stale, fresh, settled, duplicated, already READ, already FAILED and unknown messages."""
    for message_id, minutes, status in [
        ("stale-1", 60, None),
        ("stale-2", 15, "SENT"),  # exactly at the SLA boundary: stale; HubSpot's SENT proves nothing
        ("fresh-1", 14, None),
        ("delivered-1", 90, "SENT"),
        ("read-1", 90, "READ"),
        ("failed-1", 90, "FAILED"),
        ("dup-1", 40, None),
    ]:
        simulator.add_message(1001, message_id, created_at=iso(minutes), status_type=status)
    return [
        {"channel_id": 1001, "message_id": "stale-1", "created_at": iso(60), "recipient": "+15550101"},
        {
            "channelId": "1001",
            "messageId": "stale-2",
            "createdAt": int((END - timedelta(minutes=15)).timestamp() * 1000),
        },
        {"channel_id": 1001, "message_id": "fresh-1", "created_at": iso(14)},
        {"channel_id": 1001, "message_id": "delivered-1", "created_at": iso(90), "delivery_status": "delivered"},
        {"channel_id": 1001, "message_id": "read-1", "created_at": iso(90)},
        {"channel_id": 1001, "message_id": "failed-1", "created_at": iso(90)},
        {"channel_id": 1001, "message_id": "dup-1", "created_at": iso(40)},
        {"channel_id": 1001, "message_id": "dup-1", "created_at": iso(40)},
        {"channel_id": 1001, "message_id": "unknown-1", "created_at": iso(30)},
    ]


def statuses(simulator, ids):
    return {i: (simulator.get_message(1001, i) or {}).get("status", {}).get("statusType") for i in ids}


def test_exactly_the_stale_messages_end_failed(simulator, hubspot_conn, held_out_batch, tmp_path):
    report_path = tmp_path / "report.jsonl"
    summary = operator(held_out_batch, report_path=str(report_path)).execute(CONTEXT)
    counts = summary["counts"]
    assert counts["marked_failed"] == 3  # stale-1, stale-2, dup-1
    assert counts["skipped_not_stale"] == 1
    assert counts["skipped_settled"] == 1
    assert counts["skipped_read_in_hubspot"] == 1 and counts["already_correct"] == 1  # read-1, failed-1
    assert counts["skipped_duplicate"] == 1
    assert counts["not_found"] == 1
    assert sum(counts.values()) == len(held_out_batch) == summary["total"]
    after = statuses(simulator, ["stale-1", "stale-2", "dup-1", "fresh-1", "delivered-1", "read-1", "failed-1"])
    assert after == {
        "stale-1": "FAILED",
        "stale-2": "FAILED",
        "dup-1": "FAILED",
        "fresh-1": None,
        "delivered-1": "SENT",
        "read-1": "READ",
        "failed-1": "FAILED",
    }
    # nothing else was written: one PATCH per marked message, READ never overwritten
    patches = [e for e in simulator.request_log if e.method == "PATCH"]
    assert len(patches) == 3
    assert [h["statusType"] for h in simulator.status_history(1001, "read-1")] == ["READ"]
    explanation = simulator.get_message(1001, "stale-1")["status"]["failureDetails"]["errorMessage"]
    assert "15 minutes" in explanation and "2026-11-24 11:00 UTC" in explanation
    rows = [json.loads(line) for line in report_path.read_text().splitlines()]
    assert sorted(r["index"] for r in rows) == list(range(len(held_out_batch)))
    assert len(json.dumps(summary)) < 10_000


def test_rerun_is_safe_and_writes_nothing_new(simulator, hubspot_conn, held_out_batch):
    operator(held_out_batch).execute(CONTEXT)
    simulator.reset_log()
    summary = operator(held_out_batch).execute(CONTEXT)
    assert summary["counts"]["marked_failed"] == 0
    assert summary["counts"]["already_correct"] == 4 and summary["counts"]["skipped_read_in_hubspot"] == 1
    assert [e for e in simulator.request_log if e.method == "PATCH"] == []


def test_dry_run_changes_nothing(simulator, hubspot_conn, held_out_batch):
    summary = operator(held_out_batch, dry_run=True).execute(CONTEXT)
    assert summary["dry_run"] is True and summary["counts"]["would_mark_failed"] == 3
    assert [e for e in simulator.request_log if e.method == "PATCH"] == []
    assert statuses(simulator, ["stale-1"]) == {"stale-1": None}


def test_without_verification_one_patch_per_stale_message(simulator, hubspot_conn, held_out_batch):
    summary = operator(held_out_batch, verify_status=False).execute(CONTEXT)
    methods = [e.method for e in simulator.request_log]
    assert "GET" not in methods
    # read-1 and failed-1 are pending in the integrator's record; without a GET they are PATCHed too
    assert methods.count("PATCH") == 6
    assert summary["counts"]["not_found"] == 1


def test_invalid_records_are_reported_and_fail_the_task_after_the_rest(simulator, hubspot_conn):
    simulator.add_message(1001, "ok-1", created_at=iso(60))
    batch = [
        {"channel_id": 1001, "message_id": "ok-1", "created_at": iso(60)},
        {"channel_id": -3, "message_id": "bad-1", "created_at": iso(60)},
        {"channel_id": 1001, "message_id": "bad-2", "created_at": "2026-11-24T10:00:00"},
    ]
    with pytest.raises(AirflowFailException, match="2 records were invalid"):
        operator(batch).execute(CONTEXT)
    assert statuses(simulator, ["ok-1"]) == {"ok-1": "FAILED"}


def test_transient_errors_fail_retryably_after_processing_all(hubspot_conn, monkeypatch):
    from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
    from tests.conftest import connection_json

    faults = FaultConfig(script=("503",) * 30, only_paths=("*/messages/err-*",))
    with HubSpotSimulator(faults=faults) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, max_retries=1),
        )
        for message_id in ("err-1", "ok-1"):
            sim.add_message(1001, message_id, created_at=iso(60))
        batch = [{"channel_id": 1001, "message_id": m, "created_at": iso(60)} for m in ("err-1", "ok-1")]
        with pytest.raises(AirflowException, match="1 messages ended in error") as info:
            operator(batch).execute(CONTEXT)
        assert not isinstance(info.value, AirflowFailException)
        assert sim.get_message(1001, "ok-1")["status"]["statusType"] == "FAILED"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"error_message_template": "Lost {nonsense}"}, "nonsense"),
        ({"stale_after": -5}, "stale_after"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"dry_run": "maybe"}, "dry_run"),
        ({"reference_time": "2026-11-24T10:00:00"}, "reference_time"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs, words):
    with pytest.raises(ValueError, match=words):
        operator([], **kwargs)


def test_batch_that_is_not_a_list_fails_before_any_request(simulator, hubspot_conn):
    with pytest.raises(AirflowFailException, match="messages"):
        operator({"channel_id": 1001}).execute(CONTEXT)
    assert simulator.request_log == []


def test_a_patch_resent_after_a_5xx_is_flagged_in_the_report(hubspot_conn, monkeypatch, tmp_path):
    from airflow_provider_hubspot_channels.runner.attempt import REPEATED_WRITE_NOTE
    from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
    from tests.conftest import connection_json

    with HubSpotSimulator(faults=FaultConfig(script=("503",), only_methods=frozenset({"PATCH"}))) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", connection_json(sim.base_url, password=sim.access_token)
        )
        sim.add_message(1001, "m-1", created_at=iso(60))
        report = tmp_path / "r.jsonl"
        batch = [{"channel_id": 1001, "message_id": "m-1", "created_at": iso(60)}]
        operator(batch, report_path=str(report), verify_status=False).execute(CONTEXT)
    (row,) = [json.loads(line) for line in report.read_text().splitlines()]
    assert row["outcome"] == "marked_failed" and REPEATED_WRITE_NOTE in row["reason"]
    assert row["attempts"] == 2  # HTTP requests, not client calls: the 503 and the PATCH that landed


def test_errors_and_invalid_records_in_one_batch_fail_retryably_naming_both(hubspot_conn, monkeypatch):
    from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
    from tests.conftest import connection_json

    with HubSpotSimulator(faults=FaultConfig(script=("503",) * 10, only_methods=frozenset({"PATCH"}))) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, max_retries=0),
        )
        sim.add_message(1001, "m-1", created_at=iso(60))
        batch = [
            {"channel_id": 1001, "message_id": "m-1", "created_at": iso(60)},
            {"channel_id": 1001, "message_id": "bad", "created_at": "yesterday"},
        ]
        with pytest.raises(AirflowException) as info:
            operator(batch, verify_status=False).execute(CONTEXT)
    assert not isinstance(info.value, AirflowFailException)
    assert "1 messages ended in error" in str(info.value) and "1 records were invalid" in str(info.value)
    assert "created_at" in str(info.value)


def test_a_refused_write_fails_the_task_for_good_and_the_rest_is_processed(monkeypatch, tmp_path):
    # A 400 answers the same on every retry: the task must not be retried into the same refusal (and the store's
    # write-back downstream must get its report). Strict transitions refuse changing a READ message with 400.
    from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
    from tests.conftest import connection_json

    with HubSpotSimulator(strict_transitions=True) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", connection_json(sim.base_url, password=sim.access_token)
        )
        sim.add_message(1001, "read-1", created_at=iso(60), status_type="READ")
        sim.add_message(1001, "ok-1", created_at=iso(60))
        batch = [{"channel_id": 1001, "message_id": m, "created_at": iso(60)} for m in ("read-1", "ok-1")]
        report = tmp_path / "r.jsonl"
        with pytest.raises(AirflowFailException, match="HubSpot refused 1 writes") as info:
            operator(batch, verify_status=False, report_path=str(report)).execute(CONTEXT)
        assert sim.get_message(1001, "ok-1")["status"]["statusType"] == "FAILED"
    assert "correlationId" in str(info.value)
    rows = {row["message_id"]: row for row in map(json.loads, report.read_text().splitlines())}
    assert rows["read-1"]["outcome"] == "refused" and rows["ok-1"]["outcome"] == "marked_failed"


@pytest.mark.parametrize("verify_status", [True, False])
def test_the_failure_text_says_what_a_retry_does_with_the_settings_in_use(hubspot_conn, monkeypatch, verify_status):
    # Without verification a retry PATCHes everything again and would overwrite a READ: never call that "safe".
    from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
    from tests.conftest import connection_json

    faults = FaultConfig(script=("503",) * 30, only_paths=("*/messages/err-*",))
    with HubSpotSimulator(faults=faults) as sim:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT",
            connection_json(sim.base_url, password=sim.access_token, max_retries=0),
        )
        sim.add_message(1001, "err-1", created_at=iso(60))
        batch = [{"channel_id": 1001, "message_id": "err-1", "created_at": iso(60)}]
        with pytest.raises(AirflowException) as info:
            operator(batch, verify_status=verify_status).execute(CONTEXT)
    text = str(info.value)
    if verify_status:
        assert "retry of this task is safe" in text
    else:
        assert "safe" not in text.replace("safely", "") and "overwritten" in text


def test_the_stale_only_operator_warns_naming_its_successor():
    from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator

    with pytest.warns(DeprecationWarning, match="use ReconcileMessagesOperator"):
        op = ReconcileStaleMessagesOperator(task_id="old", messages=[], stale_after=900)
    assert isinstance(op, ReconcileMessagesOperator)


def test_a_dry_run_without_verification_needs_no_connection(monkeypatch, tmp_path):
    # It sends nothing, so a preview works before any connection exists (the benchmarks' memory run relies on it).
    monkeypatch.delenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", raising=False)
    batch = [{"channel_id": 1001, "message_id": "m-1", "created_at": iso(60)}]
    from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator

    summary = ReconcileMessagesOperator(
        task_id="preview", messages=batch, stale_after=900, dry_run=True, verify_status=False
    ).execute(CONTEXT)
    assert summary["counts"]["would_mark_failed"] == 1
