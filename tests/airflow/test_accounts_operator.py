"""Operators serving many HubSpot accounts: arguments checked at parse time, and a real multi-account batch (one
Airflow connection per account, one simulator per account) that fails naming the accounts it could not serve."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.operators.batch import MAX_CONCURRENCY
from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.operators.messages import UpdateMessageStatusOperator
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONTEXT = {"data_interval_start": END - timedelta(minutes=15), "data_interval_end": END, "logical_date": END}
PATTERN = "hubspot_channels_{portal_id}"


def reconcile(**kwargs: Any) -> ReconcileMessagesOperator:
    kwargs.setdefault("messages", [])
    return ReconcileMessagesOperator(task_id="reconcile", stale_after=timedelta(minutes=15), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"account_conn_pattern": PATTERN, "refresh_tokens_sql_conn_id": "db", "refresh_tokens_sql": "q"}, "account"),
        ({"refresh_tokens_sql_conn_id": "db"}, "refresh_tokens_sql"),
        ({"refresh_tokens_sql": "SELECT 1"}, "refresh_tokens_sql_conn_id"),
        ({"account_conn_pattern": "hubspot_channels"}, "account_conn_pattern"),
        ({"account_conn_pattern": "hubspot_{portal}"}, "account_conn_pattern"),
        ({"account_conn_pattern": "hubspot_{portal_id}_{}"}, "account_conn_pattern"),
        ({"account_conn_pattern": "hubspot_{portal_id!r}"}, "account_conn_pattern"),
        ({"account_conn_pattern": "hubspot_{portal_id"}, "account_conn_pattern"),
        ({"account_conn_pattern": "  "}, "account_conn_pattern"),
        ({"max_concurrency": MAX_CONCURRENCY + 1}, "max_concurrency"),
    ],
)
def test_account_arguments_are_checked_when_the_dag_is_parsed(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        reconcile(**kwargs)


def test_valid_account_arguments_and_64_threads_are_accepted() -> None:
    assert MAX_CONCURRENCY == 64
    op = reconcile(account_conn_pattern="hubspot_{portal_id}_{portal_id}", max_concurrency=64)
    assert op.hubspot_accounts() == {"account_conn_pattern": "hubspot_{portal_id}_{portal_id}"}
    sql = {"refresh_tokens_sql_conn_id": "installs_db", "refresh_tokens_sql": "SELECT t FROM i WHERE p = :portal_id"}
    assert reconcile(**sql).hubspot_accounts() == sql
    assert reconcile().hubspot_accounts() == {}  # one account: the hook is built exactly as before


def test_one_message_updates_take_no_account_arguments_a_batch_does() -> None:
    with pytest.raises(ValueError, match="account_conn_pattern"):
        UpdateMessageStatusOperator(
            task_id="one", channel_id=1001, message_id="m1", status_type="SENT", account_conn_pattern=PATTERN
        )
    batch = UpdateMessageStatusOperator(task_id="batch", updates=[], account_conn_pattern=PATTERN)
    assert batch.hubspot_accounts() == {"account_conn_pattern": PATTERN}


def test_a_mapped_tasks_pool_comes_from_partial_only() -> None:
    """The Airflow fact the per-account pool option is built on: the pool cannot be mapped per account."""
    from airflow.sdk import DAG

    with DAG("pool_fact", schedule=None, start_date=END):
        mapped = ReconcileMessagesOperator.partial(
            task_id="lanes", stale_after=900, pool="hubspot_channels_lane_0"
        ).expand_kwargs([{"messages": []}, {"messages": []}])
    assert mapped.pool == "hubspot_channels_lane_0"


@pytest.fixture
def accounts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, HubSpotSimulator]]:
    """Three accounts, each its own simulator and Airflow connection ``hubspot_channels_<id>``; 703 has none."""
    with ExitStack() as stack:
        sims = {
            p: stack.enter_context(HubSpotSimulator(hub_id=int(p), rate_limit=None, access_token=f"token-{p}"))
            for p in ("701", "702", "703")
        }
        for portal in ("701", "702"):
            conn = {"conn_type": "hubspot_channels", "host": sims[portal].base_url, "password": f"token-{portal}"}
            monkeypatch.setenv(f"AIRFLOW_CONN_HUBSPOT_CHANNELS_{portal}", json.dumps(conn))
        yield sims


def stale_records(sims: dict[str, HubSpotSimulator], per_account: int) -> list[dict[str, Any]]:
    created = (END - timedelta(hours=1)).isoformat()
    return [
        {
            "portal_id": p,
            "channel_id": 1001,
            "message_id": sim.add_message(1001, f"{p}-{i}", created_at=created)["id"],
            "created_at": created,
        }
        for i in range(per_account)
        for p, sim in sims.items()
    ]


def test_a_multi_account_batch_serves_each_account_and_fails_naming_the_one_without_a_connection(
    accounts: dict[str, HubSpotSimulator], tmp_path: Any
) -> None:
    report = tmp_path / "report.jsonl"
    op = reconcile(messages=stale_records(accounts, 5), account_conn_pattern=PATTERN, report_path=str(report))
    with pytest.raises(AirflowFailException) as info:
        op.execute(CONTEXT)
    text = str(info.value)
    assert "1 account stopped" in text and "703" in text and "hubspot_channels_703" in text
    for portal in ("701", "702"):
        statuses = {m["id"]: (m.get("status") or {}).get("statusType") for m in accounts[portal].list_messages(1001)}
        assert statuses == {f"{portal}-{i}": "FAILED" for i in range(5)}
        assert {e.status for e in accounts[portal].request_log} == {200}
    assert not accounts["703"].request_log
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert {r["portal_id"] for r in rows} == {"701", "702", "703"}
    assert {r["outcome"] for r in rows if r["portal_id"] == "703"} == {"not_attempted"}


def test_a_multi_account_batch_that_succeeds_counts_its_accounts(accounts: dict[str, HubSpotSimulator]) -> None:
    served = {p: s for p, s in accounts.items() if p != "703"}
    summary = reconcile(messages=stale_records(served, 4), account_conn_pattern=PATTERN).execute(CONTEXT)
    assert summary["accounts"] == 2 and summary["counts"]["marked_failed"] == 8


def test_a_batch_whose_every_account_stopped_fails_at_once_naming_them(
    accounts: dict[str, HubSpotSimulator],
) -> None:
    only = {"703": accounts["703"]}
    with pytest.raises(AirflowFailException, match="703"):
        reconcile(messages=stale_records(only, 2), account_conn_pattern=PATTERN).execute(CONTEXT)
