"""A hook serving many accounts looks their credentials up from the runner's threads; Airflow 3.1's Task SDK channel
to its supervisor has no lock (answers can be swapped: one account's token in another's client), so every lookup
goes one at a time. Counted through Airflow's own ``BaseHook.get_connection``, wrapped to see how many run at once."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from airflow.sdk import BaseHook

from airflow_provider_hubspot_channels.hooks.hubspot import HubSpotChannelsHook

pytestmark = pytest.mark.airflow
PORTALS = [str(900 + i) for i in range(12)]


def test_credential_lookups_of_many_accounts_never_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    for portal in PORTALS:
        conn = {"conn_type": "hubspot_channels", "host": "http://127.0.0.1:9", "password": f"token-{portal}"}
        monkeypatch.setenv(f"AIRFLOW_CONN_HUBSPOT_CHANNELS_{portal}", json.dumps(conn))
    real = BaseHook.get_connection.__func__  # type: ignore[attr-defined]
    lock = threading.Lock()
    now, most = 0, 0

    def counting(cls: Any, conn_id: str) -> Any:
        nonlocal now, most
        with lock:
            now += 1
            most = max(most, now)
        try:
            time.sleep(0.02)  # a secrets backend's round trip: long enough for threads to meet here
            return real(cls, conn_id)
        finally:
            with lock:
                now -= 1

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(counting))
    hook = HubSpotChannelsHook(account_conn_pattern="hubspot_channels_{portal_id}", pool_size=4)
    built: dict[str, Any] = {}
    barrier = threading.Barrier(len(PORTALS))

    def build(portal: str) -> None:
        barrier.wait()
        built[portal] = hook.clients.client_for(portal)

    threads = [threading.Thread(target=build, args=(portal,)) for portal in PORTALS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    hook.close()
    assert sorted(built) == PORTALS
    assert most == 1, f"{most} connection lookups ran at once"
