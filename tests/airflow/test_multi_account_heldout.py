"""Issue 15's held-out checks: multi-account batches through ``ReconcileMessagesOperator.execute()`` against ONE
simulator that hosts many accounts, as HubSpot does (a token of one account sees another's messages as 404).

Each account's credentials are OAuth refresh credentials (the app's client id and secret plus the installation's
refresh token) in its own ``AIRFLOW_CONN_HUBSPOT_CHANNELS_<portal_id>``. What is judged comes from the simulator,
never from the provider's own summary alone: each message's final status, and the request log, whose entries name
the account the request's token belonged to (``hub_id``).

The refresh-tokens-from-SQL path is in ``test_multi_account_heldout_sql.py`` (it needs a child process).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.operators.errors import AirflowFailException
from airflow_provider_hubspot_channels.operators.reconcile import ReconcileMessagesOperator
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator, ScenarioSeed
from tests.conftest import connection_json
from tests.rate_windows import limit_breaches, refused_by_account

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
CONTEXT: dict[str, Any] = {
    "data_interval_start": NOW - timedelta(minutes=15),
    "data_interval_end": NOW,
    "logical_date": NOW,
}
SLA = timedelta(minutes=10)
PATTERN = "hubspot_channels_{portal_id}"
HUBSPOT_LIMIT = 110
#: ``/conversations/custom-channels/<version>/<channel>/messages/<message id>``: a request about one message.
MESSAGE_PATH = re.compile(r"^/conversations/custom-channels/[^/]+/(\d+)/messages/([^/?]+)$")


# ------------------------------------------------------------------------------------------------ helpers


def oauth_connection(sim: HubSpotSimulator, refresh_token: str, **extra: Any) -> str:
    """A connection with OAuth refresh: the app's id and secret, one installation's refresh token."""
    return connection_json(
        sim.base_url, client_id=sim.client_id, client_secret=sim.client_secret, refresh_token=refresh_token, **extra
    )


def connect_accounts(monkeypatch: pytest.MonkeyPatch, sim: HubSpotSimulator, portals: list[str], **extra: Any) -> None:
    """One ``hubspot_channels_<portal>`` connection per account, each with that account's own refresh token."""
    for portal in portals:
        token = sim.account(int(portal)).refresh_token
        monkeypatch.setenv(f"AIRFLOW_CONN_HUBSPOT_CHANNELS_{portal}", oauth_connection(sim, token, **extra))


def seed_expectations(sim: HubSpotSimulator, accounts: int, per_account: int, seed: int) -> dict[str, ScenarioSeed]:
    """The classification ``sim.seed_accounts(accounts, per_account, seed=seed, now=NOW)`` seeded, per portal id.

    ``seed_accounts`` returns records only; the same scenario seeded into an unstarted twin with the same accounts
    gives the same records (the draws depend on seed, count, ``now`` and the portal id only) and their classes.
    """
    twin = HubSpotSimulator(hub_id=sim.hub_id, rate_limit=None)
    expected: dict[str, ScenarioSeed] = {}
    for real in sim.accounts()[:accounts]:
        account = twin.account(real.hub_id) if real.hub_id == twin.hub_id else twin.add_account(real.hub_id)
        expected[str(real.hub_id)] = account.seed_scenario("reconciliation", per_account, now=NOW, seed=seed)
    return expected


def expected_status(classification: str, seeded_status: str | None) -> str | None:
    """What a correct reconciler (verify on, two-way) leaves in HubSpot for one class of the scenario."""
    return {
        "stale": "FAILED",  # no receipt after the SLA
        "fresh": seeded_status,  # still within the SLA: left alone
        "delivered": "SENT",  # the receipt says delivered (two-way writes SENT where HubSpot shows none)
        "read": "READ",  # never overwritten
        "failed": "FAILED",  # HubSpot already agrees with the carrier
    }[classification]


def seeded_statuses(sim: HubSpotSimulator, seeds: dict[str, ScenarioSeed]) -> dict[tuple[str, str], str | None]:
    """Each existing message's status before the run, by (portal, message id)."""
    statuses: dict[tuple[str, str], str | None] = {}
    for portal, seed in seeds.items():
        for record in seed.records:
            message = sim.account(int(portal)).get_message(seed.channel_id, record["message_id"])
            if message is not None:
                statuses[(portal, record["message_id"])] = (message.get("status") or {}).get("statusType")
    return statuses


def check_final_states(
    sim: HubSpotSimulator, seeds: dict[str, ScenarioSeed], before: dict[tuple[str, str], str | None]
) -> None:
    """Every record of every account ends as its class says, in its own account."""
    wrong: list[tuple[str, str, str, str | None, str | None]] = []
    for portal, seed in seeds.items():
        account = sim.account(int(portal))
        for record in seed.records:
            message_id = record["message_id"]
            cls = seed.expected[message_id]
            message = account.get_message(seed.channel_id, message_id)
            if cls == "not_found":
                assert message is None, (portal, message_id)
                continue
            assert message is not None, (portal, message_id)
            got = (message.get("status") or {}).get("statusType")
            want = expected_status(cls, before[(portal, message_id)])
            if got != want:
                wrong.append((portal, message_id, cls, want, got))
            if cls == "read":  # READ was never even attempted to be changed
                history = account.status_history(seed.channel_id, message_id)
                assert [h["statusType"] for h in history] == ["READ"], (portal, message_id, history)
    assert not wrong, f"{len(wrong)} records ended wrong (portal, id, class, want, got): {wrong[:10]}"


def owners(seeds: dict[str, ScenarioSeed]) -> dict[str, set[str]]:
    """Which accounts own each message id (a set: ids may repeat across accounts)."""
    owned: dict[str, set[str]] = {}
    for portal, seed in seeds.items():
        for record in seed.records:
            owned.setdefault(record["message_id"], set()).add(portal)
    return owned


def settled_log(sim: HubSpotSimulator, timeout: float = 2.0) -> list[Any]:
    """The request log once it stops growing (an entry is recorded after its answer is sent)."""
    deadline = time.monotonic() + timeout
    log = sim.request_log
    while time.monotonic() < deadline:
        time.sleep(0.05)
        again = sim.request_log
        if len(again) == len(log):
            return again
        log = again
    return sim.request_log


def cross_account_requests(log: list[Any], owned: dict[str, set[str]]) -> list[tuple[str, str, int | None, int]]:
    """Message requests whose token's account does not own the message (method, id, hub_id, status)."""
    crossed = []
    for entry in log:
        match = MESSAGE_PATH.match(entry.path)
        if match is None:
            continue
        message_id = match.group(2)
        if entry.hub_id is None or str(entry.hub_id) not in owned.get(message_id, set()):
            crossed.append((entry.method, message_id, entry.hub_id, entry.status))
    return crossed


def read_report(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def reconcile(messages: list[dict[str, Any]], report: Path, **kwargs: Any) -> ReconcileMessagesOperator:
    kwargs.setdefault("account_conn_pattern", PATTERN)
    return ReconcileMessagesOperator(
        task_id="reconcile", messages=messages, stale_after=SLA, report_path=str(report), **kwargs
    )


def interleave(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Round-robin over the accounts, so that consecutive records name different accounts."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_account.setdefault(str(record.get("portal_id")), []).append(record)
    queues = list(by_account.values())
    mixed: list[dict[str, Any]] = []
    for i in range(max(len(q) for q in queues)):
        mixed.extend(q[i] for q in queues if i < len(q))
    return mixed


# --------------------------------------------------------------------- 1 and 2: correct per account, no crossing


@pytest.mark.parametrize("order", ["interleaved", "sorted_by_account"])
def test_a_mixed_batch_of_seven_accounts_ends_correct_per_account_and_never_crosses_accounts(
    order: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The default account (the task connection's) plus 6 more, 30 records each; the default account's records
    # name no portal_id, as before accounts existed, and go through hubspot_channels_default.
    with HubSpotSimulator(seed=3) as sim:
        records = sim.seed_accounts(7, 30, seed=11, now=NOW)
        seeds = seed_expectations(sim, 7, 30, seed=11)
        assert records == [r for s in seeds.values() for r in s.records], "seed_accounts is not reproducible"
        default = str(sim.hub_id)
        for record in records:
            if record["portal_id"] == default:
                del record["portal_id"]
        named = [p for p in seeds if p != default]
        connect_accounts(monkeypatch, sim, named)
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", oauth_connection(sim, sim.refresh_token))
        batch = interleave(records) if order == "interleaved" else records  # seed_accounts gives them by account
        before = seeded_statuses(sim, seeds)
        report = tmp_path / "report.jsonl"

        summary = reconcile(batch, report, max_concurrency=16).execute(CONTEXT)

        check_final_states(sim, seeds, before)
        rows = read_report(report)
        assert len(rows) == len(records)
        assert Counter(r.get("portal_id") or default for r in rows) == {p: 30 for p in seeds}
        assert {r["outcome"] for r in rows}.isdisjoint({"error", "not_attempted", "invalid"}), Counter(
            r["outcome"] for r in rows
        )
        assert summary["accounts"] == 6  # the accounts rows name; the connection's own is not counted
        stale = sum(len(s.ids("stale")) for s in seeds.values())
        assert summary["counts"]["marked_failed"] == stale

        # 2: every request about a message carried a token of the account that owns it; no 404 but for messages
        # HubSpot does not know in any account (the scenario's not_found class), and no refused token.
        log = settled_log(sim)
        owned = owners(seeds)
        not_found = {mid for s in seeds.values() for mid in s.ids("not_found")}
        assert cross_account_requests(log, owned) == []
        assert {MESSAGE_PATH.match(e.path).group(2) for e in log if e.status == 404} <= not_found  # type: ignore[union-attr]
        assert not [e for e in log if e.status in (401, 403, 429)]
        api_accounts = {str(e.hub_id) for e in log if MESSAGE_PATH.match(e.path)}
        assert api_accounts == set(seeds)
        # One token per account (lazily, once): the refresh answered each account's own hub_id.
        assert sim.token_requests == 7


# ------------------------------------------------------------------ 3: each account at HubSpot's real limit


#: The client's own ceiling: its default (100, headroom for the live integration), and the account's whole limit.
CEILINGS = [
    pytest.param(None, id="default_ceiling"),
    pytest.param(
        HUBSPOT_LIMIT,
        id="ceiling_at_the_limit",
        marks=pytest.mark.xfail(
            strict=False,
            reason="defect (client/rate_budget.py): at max_requests_per_10s == the account's limit, about 1 run in 4 "
            "gets one 429 about 10.0 s after the first request, with 111 arrivals in the simulator's window",
        ),
    ),
]


@pytest.mark.parametrize("ceiling", CEILINGS)
def test_three_accounts_at_hubspots_real_limit_see_no_429_and_no_window_over_the_limit(
    ceiling: int | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 110 per rolling 10 s per account (the simulator's default, as HubSpot's): only the client's pacing and
    # HubSpot's headers keep it under. ~300 requests per account with verify.
    with HubSpotSimulator(seed=5, rate_limit=HUBSPOT_LIMIT, rate_window_seconds=10.0) as sim:
        records = sim.seed_accounts(3, 230, seed=2, now=NOW)
        seeds = seed_expectations(sim, 3, 230, seed=2)
        extra = {} if ceiling is None else {"max_requests_per_10s": ceiling}
        connect_accounts(monkeypatch, sim, list(seeds), **extra)
        before = seeded_statuses(sim, seeds)
        report = tmp_path / "report.jsonl"
        started = time.monotonic()

        reconcile(interleave(records), report, max_concurrency=16).execute(CONTEXT)

        elapsed = time.monotonic() - started
        log = settled_log(sim)
        check_final_states(sim, seeds, before)
        per_account = Counter(str(e.hub_id) for e in log if MESSAGE_PATH.match(e.path))
        assert min(per_account.values()) >= 250, per_account  # the budget matters: > 2 windows' worth each
        assert refused_by_account(log) == {}
        breaches = limit_breaches(log, limit=HUBSPOT_LIMIT)
        assert breaches == [], [b.describe() for b in breaches]
        # Accounts are paced side by side, not one after another: 3 x ~300 requests at 110/10 s each need ~20 s
        # together; in sequence they would need over 60 s.
        assert elapsed < 50, f"{elapsed:.1f} s for {dict(per_account)}"
        print(f"\n[held-out rate] {dict(per_account)} requests in {elapsed:.1f} s, 0 429s, no window over 110")


# ------------------------------------------------- 5: random accounts, random missing or wrong credentials

CREDENTIALS = ("own", "missing", "wrong")  # its own refresh token, no connection, another account's refresh token


@st.composite
def multi_account_batches(draw: st.DrawFn) -> dict[str, Any]:
    """Accounts with a kind of credentials each, and messages assigned to them at random."""
    accounts = draw(st.integers(1, 4))
    size = draw(st.integers(1, 12))
    return {
        "credentials": draw(st.lists(st.sampled_from(CREDENTIALS), min_size=accounts, max_size=accounts)),
        "owner": draw(st.lists(st.integers(0, accounts - 1), min_size=size, max_size=size)),
        "delivered": draw(st.lists(st.booleans(), min_size=size, max_size=size)),
        "seeded_sent": draw(st.lists(st.booleans(), min_size=size, max_size=size)),
        # HubSpot's portalId arrives as a number or as text; leading zeros and spaces name the same account.
        "portal_form": draw(st.lists(st.sampled_from(("str", "int", "padded")), min_size=size, max_size=size)),
    }


@pytest.fixture(scope="module")
def shared_sim() -> Any:
    """One simulator for every example, no rate limit; each example adds accounts of its own."""
    with HubSpotSimulator(seed=9, rate_limit=None) as sim:
        yield sim


@settings(max_examples=30, deadline=None)
@given(batch=multi_account_batches())
def test_any_assignment_of_messages_to_accounts_ends_right_for_each_account(
    shared_sim: HubSpotSimulator, batch: dict[str, Any]
) -> None:
    sim = shared_sim
    sim.reset_log()
    accounts = [sim.add_account() for _ in batch["credentials"]]
    # The account whose refresh token is stored under the "wrong" accounts: it holds the same message ids, so a write
    # made with its token would land (HubSpot would accept it); it must never see a request.
    victim = sim.add_account()
    portals = [str(a.hub_id) for a in accounts]
    created = (NOW - timedelta(hours=1)).isoformat()
    records: list[dict[str, Any]] = []
    targets: dict[tuple[str, str], str] = {}
    seeded: dict[tuple[str, str], str | None] = {}
    for i, index in enumerate(batch["owner"]):
        account, portal = accounts[index], portals[index]
        # Ids repeat across accounts (each account's n-th message is m-<n>): only the token tells them apart.
        message_id = f"m-{sum(1 for j in batch['owner'][:i] if j == index)}"
        status = "SENT" if batch["seeded_sent"][i] else None
        account.add_message(1001, message_id, created_at=created, status_type=status)
        victim.add_message(1001, message_id, created_at=created) if victim.get_message(
            1001, message_id
        ) is None else None
        form = batch["portal_form"][i]
        named: str | int = int(portal) if form == "int" else f" 0{portal} " if form == "padded" else portal
        delivered = batch["delivered"][i]
        records.append(
            {
                "portal_id": named,
                "channel_id": 1001,
                "message_id": message_id,
                "created_at": created,
                "delivery_status": "delivered" if delivered else "pending",
            }
        )
        targets[(portal, message_id)] = "SENT" if delivered else "FAILED"
        seeded[(portal, message_id)] = status
    served = {p for p, kind in zip(portals, batch["credentials"], strict=True) if kind == "own"}
    refused = {portals[i] for i in set(batch["owner"])} - served

    with pytest.MonkeyPatch.context() as monkeypatch, tempfile.TemporaryDirectory() as tmp:
        for portal, kind in zip(portals, batch["credentials"], strict=True):
            if kind != "missing":
                token = sim.account(int(portal)).refresh_token if kind == "own" else victim.refresh_token
                monkeypatch.setenv(f"AIRFLOW_CONN_HUBSPOT_CHANNELS_{portal}", oauth_connection(sim, token))
        report = Path(tmp) / "report.jsonl"
        op = reconcile(records, report, max_concurrency=4)
        if refused:
            with pytest.raises(AirflowFailException) as info:
                op.execute(CONTEXT)
            assert all(portal in str(info.value) for portal in refused), (refused, str(info.value))
        else:
            op.execute(CONTEXT)
        rows = read_report(report)

    # Exactly one report row per record, naming its account as decimal text.
    assert Counter((r["portal_id"], r["message_id"]) for r in rows) == Counter(list(targets))
    for row in rows:
        key = (row["portal_id"], row["message_id"])
        account = sim.account(int(row["portal_id"]))
        message = account.get_message(1001, row["message_id"]) or {}
        final = (message.get("status") or {}).get("statusType")
        writes = [h for h in account.status_history(1001, row["message_id"]) if h.get("source") == "api"]
        if row["portal_id"] in served:
            assert final == targets[key], (row, batch)
            assert row["outcome"] not in ("error", "not_attempted", "invalid"), row
        else:
            assert row["outcome"] == "not_attempted", row
            # Each row says why its account stopped, the row whose request met the refusal as well as the rest.
            kind = batch["credentials"][portals.index(row["portal_id"])]
            why = f"hubspot_channels_{row['portal_id']}" if kind == "missing" else "belongs to another account"
            assert row["portal_id"] in row["reason"] and why in row["reason"], row
            assert final == seeded[key] and writes == [], (row, writes)
    # No request about a message with a token of an account that has no record of it, none with the victim's or a
    # refused account's token, and nothing refused.
    log = settled_log(sim, timeout=0.5)
    owned: dict[str, set[str]] = {}
    for portal, message_id in targets:
        owned.setdefault(message_id, set()).add(portal)
    assert cross_account_requests(log, owned) == []
    api_users = {str(e.hub_id) for e in log if MESSAGE_PATH.match(e.path)}
    assert api_users <= served, (api_users, served)
    assert not [e for e in log if e.status in (401, 403, 404, 429)]
    assert all(
        h.get("source") != "api" for m in victim.list_messages(1001) for h in victim.status_history(1001, m["id"])
    )


def test_one_account_named_by_some_records_and_implied_by_others_stays_under_its_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The connection's own account is also named by portal_id in half the records (records from before and after
    # the integrator stored portalId): both routes lead to one HubSpot account, and its one limit. (Two clients
    # serve it, each with its own budget: HubSpot's headers are what keeps them under together.)
    with HubSpotSimulator(seed=6, rate_limit=HUBSPOT_LIMIT, rate_window_seconds=10.0) as sim:
        records = sim.seed_accounts(1, 230, seed=4, now=NOW)
        seeds = seed_expectations(sim, 1, 230, seed=4)
        for record in records[::2]:
            del record["portal_id"]
        connect_accounts(monkeypatch, sim, list(seeds))
        monkeypatch.setenv("AIRFLOW_CONN_HUBSPOT_CHANNELS_DEFAULT", oauth_connection(sim, sim.refresh_token))
        before = seeded_statuses(sim, seeds)

        reconcile(records, tmp_path / "report.jsonl", max_concurrency=16).execute(CONTEXT)

        log = settled_log(sim)
        check_final_states(sim, seeds, before)
        assert len([e for e in log if MESSAGE_PATH.match(e.path)]) >= 250
        assert refused_by_account(log) == {}
        breaches = limit_breaches(log, limit=HUBSPOT_LIMIT)
        assert breaches == [], [b.describe() for b in breaches]
