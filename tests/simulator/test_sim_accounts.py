"""Many HubSpot accounts in one simulator: per-account data, tokens, rate limits and headers, as HubSpot keeps them.

Every request goes over real HTTP on 127.0.0.1; the default account is the simulator's own API (``sim.hub_id``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import CC, CHANNEL, TIMEOUT, Api, error_of, message_path

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator, SimulatedAccount

CLI = [sys.executable, "-m", "airflow_provider_hubspot_channels.simulator"]


def refresh(sim: HubSpotSimulator, refresh_token: str) -> requests.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "refresh_token": refresh_token,
    }
    return requests.post(f"{sim.base_url}/oauth/2026-03/token", data=form, timeout=TIMEOUT)


def test_the_default_account_is_the_simulator_and_more_accounts_are_listed(make_sim) -> None:
    sim = make_sim(rate_limit=None)
    default = sim.account(sim.hub_id)
    assert isinstance(default, SimulatedAccount)
    assert default.refresh_token == sim.refresh_token and default.state is sim.state
    second = sim.add_account()
    third = sim.add_account(hub_id=777)
    assert [a.hub_id for a in sim.accounts()] == [sim.hub_id, second.hub_id, 777]
    assert len({sim.hub_id, second.hub_id, 777}) == 3
    assert sim.account(777) is third
    with pytest.raises(KeyError, match="no account 778"):
        sim.account(778)
    with pytest.raises(ValueError, match="777 already exists"):
        sim.add_account(777)
    with pytest.raises(ValueError, match="positive"):
        sim.add_account(0)
    # Each account has its own default channel 1001, account 2001 and inbox 3001.
    assert third.add_message(CHANNEL, "m-1")["channelId"] == str(CHANNEL)
    assert sim.get_message(CHANNEL, "m-1") is None


def test_a_refresh_token_yields_access_tokens_of_its_own_account_only(make_sim) -> None:
    sim = make_sim(rate_limit=None)
    other = sim.add_account()
    sim.add_message(CHANNEL, "only-in-default")
    other.add_message(CHANNEL, "only-in-other")
    for account, own, foreign in (
        (sim.account(sim.hub_id), "only-in-default", "only-in-other"),
        (other, "only-in-other", "only-in-default"),
    ):
        answer = refresh(sim, account.refresh_token)
        assert answer.status_code == 200
        body = answer.json()
        assert body["hub_id"] == account.hub_id
        api = Api(sim, body["access_token"])
        try:
            assert api.get(message_path(own)).status_code == 200
            assert api.get(message_path(foreign)).status_code == 404
        finally:
            api.close()


def test_another_accounts_token_sees_a_message_as_not_found_and_cannot_patch_it(make_sim) -> None:
    sim = make_sim(rate_limit=None)
    other = sim.add_account()
    sim.add_message(CHANNEL, "m-a")
    sim.add_channel(1234)
    api = Api(sim, other.access_token)
    try:
        read = api.get(message_path("m-a"))
        assert read.status_code == 404 and error_of(read)["category"] == "OBJECT_NOT_FOUND"
        write = api.patch(message_path("m-a"), json={"statusType": "FAILED", "errorMessage": "no"})
        assert write.status_code == 404 and error_of(write)["category"] == "OBJECT_NOT_FOUND"
        # The channel only the default account has is not found either; the other account's own 1001 is.
        assert api.get(f"{CC}/1234").status_code == 404
        assert api.get(f"{CC}/{CHANNEL}").status_code == 200
    finally:
        api.close()
    assert sim.status_history(CHANNEL, "m-a") == []
    assert "status" not in (sim.get_message(CHANNEL, "m-a") or {})


def test_one_message_id_in_two_accounts_is_two_messages(make_sim) -> None:
    sim = make_sim(rate_limit=None)
    other = sim.add_account()
    sim.add_message(CHANNEL, "same")
    other.add_message(CHANNEL, "same")
    api = Api(sim, other.access_token)
    try:
        assert api.patch(message_path("same"), json={"statusType": "READ"}).status_code == 200
    finally:
        api.close()
    assert (other.get_message(CHANNEL, "same") or {})["status"]["statusType"] == "READ"
    assert "status" not in (sim.get_message(CHANNEL, "same") or {})
    assert [h["statusType"] for h in other.status_history(CHANNEL, "same")] == ["READ"]


def test_rate_limits_and_their_headers_are_per_account(make_sim) -> None:
    sim = make_sim(rate_limit=3, rate_window_seconds=60)
    other = sim.add_account()
    sim.add_message(CHANNEL, "a")
    other.add_message(CHANNEL, "b")
    busy, calm = Api(sim), Api(sim, other.access_token)
    try:
        remaining = [busy.get(message_path("a")).headers["X-HubSpot-RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        assert busy.get(message_path("a")).status_code == 429
        answer = calm.get(message_path("b"))
        assert answer.status_code == 200
        assert answer.headers["X-HubSpot-RateLimit-Remaining"] == "2"
        assert answer.headers["X-HubSpot-RateLimit-Max"] == "3"
        assert busy.get(message_path("a")).status_code == 429
    finally:
        busy.close()
        calm.close()


def test_the_request_log_names_the_account_of_each_request(make_sim) -> None:
    sim = make_sim(rate_limit=None)
    other = sim.add_account()
    Api(sim).get(message_path("x"))
    Api(sim, other.access_token).get(message_path("x"))
    Api(sim, "sim-at-unknown").get(message_path("x"), check=False)
    assert refresh(sim, other.refresh_token).status_code == 200
    assert refresh(sim, "na1-unknown").status_code == 400
    hubs = [(e.status, e.hub_id) for e in sim.request_log]
    assert hubs == [(404, sim.hub_id), (404, other.hub_id), (401, None), (200, other.hub_id), (400, None)]
    listed = requests.get(f"{sim.base_url}/_simulator/requests", timeout=TIMEOUT).json()["requests"]
    assert [e["hubId"] for e in listed] == [h for _, h in hubs]


def test_the_accounts_endpoint_lists_every_account_with_its_counters(make_sim) -> None:
    sim = make_sim(rate_limit=2, rate_window_seconds=60)
    other = sim.add_account(hub_id=555)
    other.add_message(CHANNEL, "m", status_type="SENT")
    api = Api(sim, other.access_token)
    try:
        statuses = [api.get(message_path("m")).status_code for _ in range(3)]
    finally:
        api.close()
    assert statuses == [200, 200, 429]
    listed = requests.get(f"{sim.base_url}/_simulator/accounts", timeout=TIMEOUT).json()["accounts"]
    assert [a["hubId"] for a in listed] == [sim.hub_id, 555]
    assert listed[0]["requests"] == 0 and listed[0]["messages"] == 0
    assert listed[1]["requests"] == 3
    assert listed[1]["statusCounts"] == {"200": 2, "429": 1}
    assert listed[1]["messages"] == 1 and listed[1]["messagesByStatus"] == {"SENT": 1}
    assert listed[1]["rateLimitRemaining"] == 0
    # The refresh token is a secret: the listing never shows one.
    assert other.refresh_token not in json.dumps(listed)


def test_seed_accounts_creates_n_accounts_with_m_records_each(make_sim) -> None:
    sim = make_sim(rate_limit=None)
    records = sim.seed_accounts(3, 12, seed=5)
    assert len(records) == 36
    by_portal = Counter(r["portal_id"] for r in records)
    assert sorted(by_portal) == sorted(str(a.hub_id) for a in sim.accounts())
    assert set(by_portal.values()) == {12}
    for record in records:
        owner = sim.account(int(record["portal_id"]))
        found = owner.get_message(record["channel_id"], record["message_id"])
        others = [a for a in sim.accounts() if a is not owner]
        assert all(a.get_message(record["channel_id"], record["message_id"]) is None for a in others)
        assert found is not None or record["delivery_status"] in ("pending", "delivered")
    assert {"channel_id", "message_id", "created_at", "delivery_status"} <= set(records[0])
    # The same seed gives the same records; a seeded account is reused, not duplicated.
    again = make_sim(rate_limit=None).seed_accounts(3, 12, seed=5)
    assert [r["message_id"] for r in again] == [r["message_id"] for r in records]
    with pytest.raises(ValueError, match="accounts"):
        sim.seed_accounts(0, 1)


@pytest.fixture(scope="module")
def three_accounts() -> Any:
    with HubSpotSimulator(rate_limit=None) as sim:
        accounts = [sim.account(sim.hub_id), sim.add_account(), sim.add_account()]
        for index, account in enumerate(accounts):
            for n in range(3):
                account.add_message(CHANNEL, f"own-{index}-{n}")
            account.add_message(CHANNEL, "shared-id")
        sessions = [Api(sim, a.access_token, check=False) for a in accounts]
        yield sim, accounts, sessions
        for session in sessions:
            session.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    token_of=st.integers(0, 2),
    owner=st.integers(0, 2),
    number=st.integers(0, 3),
    method=st.sampled_from(["GET", "PATCH"]),
)
def test_a_request_succeeds_iff_the_tokens_account_owns_the_message(
    three_accounts: Any, token_of: int, owner: int, number: int, method: str
) -> None:
    sim, accounts, sessions = three_accounts
    message_id = f"own-{owner}-{number}" if number < 3 else "shared-id"
    owns = token_of == owner or message_id == "shared-id"
    before = {
        i: a.status_history(CHANNEL, message_id) for i, a in enumerate(accounts) if a.get_message(CHANNEL, message_id)
    }
    body = {"json": {"statusType": "SENT"}} if method == "PATCH" else {}
    answer = sessions[token_of].call(method, message_path(message_id), **body)
    assert (answer.status_code == 200) is owns, (token_of, owner, message_id, answer.status_code)
    if not owns:
        assert answer.status_code == 404 and error_of(answer)["category"] == "OBJECT_NOT_FOUND"
    for index, history in before.items():
        changed = accounts[index].status_history(CHANNEL, message_id) != history
        assert changed is (method == "PATCH" and owns and index == token_of)
    assert sim.request_log[-1].hub_id == accounts[token_of].hub_id


def _values(process: subprocess.Popen[str], last: str) -> dict[str, str]:
    assert process.stdout is not None
    values: dict[str, str] = {}
    while last not in values:
        line = process.stdout.readline()
        assert line, "the simulator exited before printing its values"
        key, _, value = line.strip().partition("=")
        values[key] = value
    return values


def test_cli_serves_many_accounts_writes_records_and_credentials_and_summarises_each(tmp_path: Path) -> None:
    records_path, accounts_path = tmp_path / "records.jsonl", tmp_path / "accounts.json"
    process = subprocess.Popen(
        [
            *CLI,
            "--port",
            "0",
            "--rate-limit",
            "0",
            "--accounts",
            "3",
            "--messages-per-account",
            "12",
            "--scenario",
            "smoke",
            "--records-out",
            str(records_path),
            "--accounts-out",
            str(accounts_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        values = _values(process, "HUBSPOT_SIMULATOR_ACCOUNTS")
        base = values["HUBSPOT_SIMULATOR_BASE_URL"]
        assert values["HUBSPOT_SIMULATOR_ACCOUNTS"] == str(accounts_path)
        records = [json.loads(line) for line in records_path.read_text().splitlines()]
        assert len(records) == 36 and len({r["portal_id"] for r in records}) == 3
        credentials = json.loads(accounts_path.read_text())
        assert credentials["client_id"] == values["HUBSPOT_SIMULATOR_CLIENT_ID"]
        assert sorted(credentials["accounts"]) == sorted({r["portal_id"] for r in records})
        # A failed message (HubSpot has it) of the last account (not the default one).
        chosen = next(r for r in reversed(records) if r["delivery_status"] == "failed")
        assert chosen["portal_id"] != values["HUBSPOT_SIMULATOR_HUB_ID"]
        form = {
            "grant_type": "refresh_token",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "refresh_token": credentials["accounts"][chosen["portal_id"]],
        }
        token = requests.post(f"{base}/oauth/2026-03/token", data=form, timeout=TIMEOUT).json()
        assert str(token["hub_id"]) == chosen["portal_id"]
        path = f"{base}{CC}/{chosen['channel_id']}/messages/{chosen['message_id']}"
        answer = requests.get(path, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=TIMEOUT)
        assert answer.status_code == 200
        listed = requests.get(f"{base}/_simulator/accounts", timeout=TIMEOUT).json()["accounts"]
        assert [a["messages"] > 0 for a in listed] == [True, True, True]
        os.kill(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=10)
        assert process.returncode == 0
        summary = json.loads(err.strip().splitlines()[-1].partition("summary: ")[2])
        per_account = {str(a["hubId"]): a["requests"] for a in summary["accounts"]}
        # The refresh and the GET, both with that account's credentials; nothing for the others.
        assert per_account[chosen["portal_id"]] == 2 and sum(per_account.values()) == 2
        assert credentials["accounts"][chosen["portal_id"]] not in err
    finally:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(Exception):
            process.communicate(timeout=5)


@settings(max_examples=40, deadline=None)
@given(
    accounts=st.integers(1, 5),
    per_account=st.integers(0, 15),
    seed=st.integers(0, 2**31),
    scenario=st.sampled_from(["reconciliation", "smoke", "two_way"]),
)
def test_any_seeding_gives_each_account_exactly_its_own_records(
    accounts: int, per_account: int, seed: int, scenario: str
) -> None:
    sim = HubSpotSimulator(rate_limit=None)  # never started: seeding needs no server
    records = sim.seed_accounts(accounts, per_account, seed=seed, scenario=scenario)
    assert len(records) == accounts * per_account and len(sim.accounts()) == accounts
    keys = {(r["portal_id"], r["message_id"]) for r in records}
    assert len(keys) == len(records)
    for account in sim.accounts():
        own = {r["message_id"] for r in records if r["portal_id"] == str(account.hub_id)}
        assert len(own) == per_account
        stored = {m["id"] for m in account.list_messages() if m["direction"] == "OUTGOING"}
        # Every outgoing message an account stores is one of its own records (not_found records are not stored).
        assert stored <= own


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--accounts", "0"], "--accounts"),
        (["--messages-per-account", "-1"], "--messages-per-account"),
        (["--messages-per-account", "2", "--count", "3"], "--count"),
    ],
)
def test_cli_refuses_bad_account_options_naming_them(arguments: list[str], named: str) -> None:
    result = subprocess.run([*CLI, *arguments], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and named in result.stderr


def test_the_inbox_api_lists_only_the_token_accounts_threads(make_sim) -> None:
    sim = make_sim(rate_limit=None)
    other = sim.add_account()
    mine = sim.add_message(CHANNEL, "a-1")
    theirs = other.add_message(CHANNEL, "b-1")
    for account, message, foreign in ((sim, mine, theirs), (other, theirs, mine)):
        api = Api(sim, account.access_token)
        try:
            threads = api.get("/conversations/conversations/2026-09/threads", params={"inboxId": "3001"}).json()
            assert [t["id"] for t in threads["results"]] == [message["conversationsThreadId"]]
            path = f"/conversations/conversations/2026-09/threads/{foreign['conversationsThreadId']}/messages"
            assert api.get(path).status_code == 404  # thread ids are unique across accounts, as on HubSpot
        finally:
            api.close()
