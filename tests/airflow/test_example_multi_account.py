"""The multi-account example DAG end to end with ``dag.test()``: a store of three accounts, one simulator and one
Airflow connection per account, split into mapped tasks; one account without a connection fails only its group."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack, closing
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from airflow_provider_hubspot_channels.sqlite_store import connect, insert_records

pytestmark = pytest.mark.airflow
END = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
PORTALS = ("801", "802", "803")


def get_dag(dag_id: str) -> Any:
    from tests.conftest import EXAMPLE_DAGS, DagBag

    bag: Any = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


@pytest.fixture
def accounts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, HubSpotSimulator]]:
    with ExitStack() as stack:
        sims = {
            p: stack.enter_context(HubSpotSimulator(hub_id=int(p), rate_limit=None, access_token=f"token-{p}"))
            for p in PORTALS
        }
        for portal in PORTALS[:2]:  # 803 has no connection
            conn = {"conn_type": "hubspot_channels", "host": sims[portal].base_url, "password": f"token-{portal}"}
            monkeypatch.setenv(f"AIRFLOW_CONN_HUBSPOT_CHANNELS_{portal}", json.dumps(conn))
        yield sims


@pytest.fixture
def store() -> str:
    path = os.environ["HUBSPOT_CHANNELS_STORE"]
    if os.path.exists(path):
        os.remove(path)
    return path


def test_each_account_is_reconciled_and_one_without_credentials_fails_only_its_group(
    airflow_db: Any, accounts: dict[str, HubSpotSimulator], store: str
) -> None:
    created = (END - timedelta(minutes=30)).isoformat()
    records = []
    for portal, sim in accounts.items():
        for i in range(3):
            sim.add_message(1001, f"{portal}-{i}", created_at=created)
            records.append(
                {"portal_id": portal, "channel_id": 1001, "message_id": f"{portal}-{i}", "created_at": created}
            )
    insert_records(store, records)
    dag_run = get_dag("example_hubspot_multi_account").test(logical_date=END)
    states = [(ti.task_id, ti.map_index, ti.state) for ti in dag_run.get_task_instances()]
    reconcile = sorted(state for task_id, _, state in states if task_id == "reconcile")
    assert reconcile == ["failed", "success", "success"], states
    for portal in PORTALS[:2]:
        assert {(m.get("status") or {}).get("statusType") for m in accounts[portal].list_messages(1001)} == {"FAILED"}
    assert not accounts["803"].request_log
    with closing(connect(store)) as db:
        reported = {(r["portal_id"], r["reported_status"]) for r in db.execute("SELECT * FROM outgoing_messages")}
    assert reported == {("801", "FAILED"), ("802", "FAILED"), ("803", None)}
