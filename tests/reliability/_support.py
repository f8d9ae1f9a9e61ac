"""Shared helpers of the reliability tests: simulator-backed connections, the operator, and state checks."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_hubspot_channels.operators.reconcile import ReconcileStaleMessagesOperator
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator, ScenarioSeed

CONN_ENV = "AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT"
ROOT = Path(__file__).resolve().parents[2]
SLA = timedelta(minutes=10)


def connection_json(base_url: str, *, password: str | None = None, **extra: object) -> str:
    """An ``AIRFLOW_CONN_*`` value for a hubspot_channels connection."""
    conn: dict[str, object] = {"conn_type": "hubspot_channels", "host": base_url, "extra": extra}
    if password is not None:
        conn["password"] = password
    return json.dumps(conn)


def use_connection(
    monkeypatch: pytest.MonkeyPatch, sim: HubSpotSimulator, *, oauth: bool = False, **extra: Any
) -> None:
    """Point ``hubspot_channels_default`` at ``sim`` with a static token, or with OAuth refresh."""
    if oauth:
        extra.update(client_id=sim.client_id, client_secret=sim.client_secret, refresh_token=sim.refresh_token)
        monkeypatch.setenv(CONN_ENV, connection_json(sim.base_url, **extra))
    else:
        monkeypatch.setenv(CONN_ENV, connection_json(sim.base_url, password=sim.access_token, **extra))


def context_for(seed: ScenarioSeed) -> dict[str, Any]:
    """An Airflow context whose data interval ends at the scenario's ``now``."""
    end = seed.now
    return {"data_interval_start": end - timedelta(minutes=15), "data_interval_end": end, "logical_date": end}


def reconcile(records: Any, **kwargs: Any) -> ReconcileStaleMessagesOperator:
    """The operator under test, with the scenario's 10-minute SLA unless told otherwise."""
    kwargs.setdefault("stale_after", SLA)
    return ReconcileStaleMessagesOperator(task_id="reconcile", messages=records, **kwargs)


def settled_log(sim: HubSpotSimulator, *, expected: int | None = None, timeout: float = 2.0) -> list[Any]:
    """The simulator's request log once it stops growing (it records a request after answering it).

    :param expected: return as soon as at least this many entries are there.
    :param timeout: the longest wait.
    """
    deadline = time.monotonic() + timeout
    log = sim.request_log
    while time.monotonic() < deadline:
        time.sleep(0.05)
        again = sim.request_log
        if (expected is not None and len(again) >= expected) or (expected is None and len(again) == len(log)):
            return again
        log = again
    return sim.request_log


def api_writes(sim: HubSpotSimulator, channel_id: int, message_id: str) -> list[dict[str, Any]]:
    """Status changes the API made to one message (the seed's own entries left out)."""
    try:
        history = sim.status_history(channel_id, message_id)
    except KeyError:
        return []
    return [h for h in history if h.get("source") == "api"]


def final_state(sim: HubSpotSimulator, seed: ScenarioSeed) -> dict[str, str | None]:
    """Status type per message id of the scenario as the simulator holds it (None: no status or unknown)."""
    states: dict[str, str | None] = {}
    for record in seed.records:
        message = sim.get_message(seed.channel_id, record["message_id"]) or {}
        states[record["message_id"]] = (message.get("status") or {}).get("statusType")
    return states


def check_invariants(sim: HubSpotSimulator, seed: ScenarioSeed) -> dict[str, Any]:
    """Assert the reconciliation's promises on the simulator's record and return what it wrote.

    Every stale message is FAILED, no READ was overwritten, nothing that is not stale was written.
    Returns ``messages_failed_by_api`` (messages with an accepted FAILED written by PATCH) and
    ``duplicate_writes`` (messages written more than once, e.g. a PATCH retried after its answer was lost) and
    their ids in ``duplicate_ids``.
    """
    failed_by_api = 0
    duplicates = 0
    duplicate_ids: set[str] = set()
    for record in seed.records:
        message_id = record["message_id"]
        cls = seed.expected[message_id]
        writes = api_writes(sim, seed.channel_id, message_id)
        if cls == "stale":
            message = sim.get_message(seed.channel_id, message_id) or {}
            assert (message.get("status") or {}).get("statusType") == "FAILED", (message_id, writes)
            assert writes and all(w["statusType"] == "FAILED" and w["accepted"] for w in writes), (message_id, writes)
        else:
            assert writes == [], f"{cls} message {message_id} was written: {writes}"
        if cls == "read":
            history = sim.status_history(seed.channel_id, message_id)
            assert [h["statusType"] for h in history] == ["READ"], (message_id, history)
        if writes:
            failed_by_api += 1
            duplicates += len(writes) > 1
        if len(writes) > 1:
            duplicate_ids.add(message_id)
    return {"messages_failed_by_api": failed_by_api, "duplicate_writes": duplicates, "duplicate_ids": duplicate_ids}


def fault_counts(sim: HubSpotSimulator) -> Counter[str]:
    """Faults injected per kind, HTML 5xx folded into ``5xx_html`` and JSON ones into ``5xx``."""
    folded: Counter[str] = Counter()
    for kind, n in sim.faults_injected.items():
        if kind.endswith("_html"):
            folded["5xx_html"] += n
        elif kind[:1] == "5":
            folded["5xx"] += n
        else:
            folded[kind] += n
    return folded
