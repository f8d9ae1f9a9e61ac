"""Any mix of account troubles in one multi-account run: every input row gets exactly one row, and only HubSpot
giving no answer (or the run failing) stops accounts that had no trouble of their own.

The accounts' clients here answer what HubSpot cannot be made to answer on demand and fast enough for a property
test (429 or 503 through every retry, a TLS setup error); the runner and the scheduler are the real ones."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import (
    Answer,
    HubSpotConnectionError,
    HubSpotRetriesExhaustedError,
)
from airflow_provider_hubspot_channels.client.accounts import AccountCredentialsError
from airflow_provider_hubspot_channels.client.errors import ErrorDetails
from airflow_provider_hubspot_channels.reconciliation import RunReport, StalenessPolicy, iter_plan
from airflow_provider_hubspot_channels.runner.reconcile import run_plan

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
POLICY = StalenessPolicy(timedelta(minutes=15), NOW)
CREATED = (NOW - timedelta(hours=1)).isoformat()
TROUBLES = ["ok", "busy", "down", "setup", "credentials", "raises"]


class Account:
    """One account's client: answers as its trouble says."""

    def __init__(self, trouble: str) -> None:
        self.trouble = trouble
        self.writes = 0

    def read_message(self, channel_id: int | str, message_id: str) -> Answer:
        if self.trouble == "busy":
            raise HubSpotRetriesExhaustedError(ErrorDetails(status=429), method="GET", path="/m", attempts=4)
        if self.trouble == "down":
            raise HubSpotRetriesExhaustedError(ErrorDetails(status=503), method="GET", path="/m", attempts=4)
        if self.trouble == "setup":
            raise HubSpotConnectionError(method="GET", path="/m", attempts=1, reason="SSLError", retryable=False)
        body = {"id": message_id, "direction": "OUTGOING", "status": {"statusType": "SENT"}, "createdAt": CREATED}
        return Answer(body, 1, 0)

    def write_status(self, update: Any) -> Answer:
        self.writes += 1
        return Answer({"id": update.message_id, "status": {"statusType": update.status_type}}, 1, 0)

    def redact(self, text: str) -> str:
        return text

    def stop(self) -> None:
        pass


class Router:
    def __init__(self, troubles: dict[str, str]) -> None:
        self.accounts = {portal: Account(trouble) for portal, trouble in troubles.items()}

    def client_for(self, portal_id: str | None) -> Account:
        account = self.accounts[portal_id or "0"]
        if account.trouble == "credentials":
            raise AccountCredentialsError(portal_id or "0", "no connection", "add it")
        if account.trouble == "raises":
            raise RuntimeError("a router bug")
        return account

    def redact(self, text: str) -> str:
        return text

    def stop(self) -> None:
        pass


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(TROUBLES), min_size=1, max_size=6),
    st.lists(st.integers(0, 5), min_size=1, max_size=60),
    st.integers(1, 6),
)
def test_any_mix_of_account_troubles_gives_every_row_one_row(
    troubles: list[str], picks: list[int], threads: int
) -> None:
    portals = {str(n + 1): trouble for n, trouble in enumerate(troubles)}
    rows = [
        {"portal_id": str(pick % len(troubles) + 1), "channel_id": 1001, "message_id": f"m{i}", "created_at": CREATED}
        for i, pick in enumerate(picks)
    ]
    router = Router(portals)
    out: list[Any] = []
    failed = False
    try:
        result = run_plan(iter_plan(rows, POLICY), router, report=RunReport(), sink=out.append, max_concurrency=threads)
    except RuntimeError:
        failed = True
    indexes = sorted(o.index for o in out)
    assert indexes == list(range(len(rows)))  # exactly one row each, whatever happened
    used = {row["portal_id"] for row in rows}
    if failed:
        assert "raises" in {portals[p] for p in used}
        return
    if not any(portals[p] == "down" for p in used):
        # No account's own trouble stops another: every "ok" account wrote all its rows.
        for portal in used:
            if portals[portal] == "ok":
                assert router.accounts[portal].writes == sum(row["portal_id"] == portal for row in rows)
        if any(portals[p] == "ok" for p in used):
            assert result.stopped_reason is None


@pytest.mark.parametrize("trouble", ["busy", "setup", "credentials"])
def test_the_row_reasons_of_a_stopped_account_name_it_once(trouble: str) -> None:
    rows = [
        {"portal_id": p, "channel_id": 1001, "message_id": f"{p}-{i}", "created_at": CREATED}
        for i in range(6)
        for p in ("1", "2")
    ]
    out: list[Any] = []
    run_plan(iter_plan(rows, POLICY), Router({"1": trouble, "2": "ok"}), report=RunReport(), sink=out.append)
    assert sum(o.portal_id == "1" for o in out) == 6
    # A busy account's own error rows are plain errors; the rows it did not attempt name it.
    reasons = [
        o.reason for o in out if o.portal_id == "1" and (trouble != "busy" or o.outcome.value == "not_attempted")
    ]
    assert reasons and all("account 1: " in r and r.count("account 1: ") == 1 for r in reasons), reasons
