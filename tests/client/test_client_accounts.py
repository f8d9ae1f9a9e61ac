"""Issue 15: one client per HubSpot account, built lazily from per-account credentials, all on one transport.

Every account is a simulator of its own (its own ``hub_id``, tokens and data), as HubSpot keeps accounts apart.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    ClientStoppedError,
    HubSpotAccountMismatchError,
    HubSpotAuthenticationError,
    HubSpotChannelsClient,
    HubSpotTokenRefreshError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.client.accounts import (
    AccountCredentials,
    AccountCredentialsError,
    MultiAccountClient,
)
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.client._servers import ScriptedServer, json_reply

HUB_IDS = (111, 222, 333)


@pytest.fixture
def sims() -> Iterator[dict[str, HubSpotSimulator]]:
    with ExitStack() as stack:
        yield {
            str(hub): stack.enter_context(HubSpotSimulator(hub_id=hub, rotate_refresh_tokens=True)) for hub in HUB_IDS
        }


def config(base_url: str) -> ClientConfig:
    return ClientConfig(base_url=base_url, max_retries=0, timeout=5, max_requests_per_10s=1000)


def oauth(sim: HubSpotSimulator, refresh_token: str | None = None) -> AccountCredentials:
    return AccountCredentials(
        config=config(sim.base_url),
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        refresh_token=refresh_token or sim.refresh_token,
    )


def api_calls(sim: HubSpotSimulator) -> list[tuple[str, int | None]]:
    return [(entry.method, entry.status) for entry in sim.request_log if "/oauth/" not in entry.path]


def test_each_account_is_written_with_its_own_token_on_one_session(sims):
    rotated: list[tuple[str, str]] = []
    masked: list[str] = []
    clients = MultiAccountClient(
        credentials=lambda portal: oauth(sims[portal]),
        pool_size=4,
        on_new_token=masked.append,
        on_refresh_token_rotated=lambda portal, token: rotated.append((portal, token)),
    )
    with clients:
        messages = {portal: sim.add_message(1001) for portal, sim in sims.items()}
        for portal, message in messages.items():
            clients.client_for(portal).update_message_status(1001, message["id"], "READ")
        for portal, sim in sims.items():
            assert sim.get_message(1001, messages[portal]["id"])["status"]["statusType"] == "READ"
            assert api_calls(sim) == [("PATCH", 200)]  # never a 401: no token crossed accounts
        built = [clients.client_for(portal) for portal in sims]
        assert len({id(client.session) for client in built}) == 1
        assert len({id(client.budget) for client in built}) == 3  # a budget per account
        assert clients.usage.snapshot().requests == 3
        # Rotated refresh tokens are handed out with their account, masked first.
        assert sorted(portal for portal, _ in rotated) == sorted(sims)
        assert all(token in masked for _, token in rotated)


def test_the_same_account_in_any_decimal_spelling_is_one_client(sims):
    calls: list[str] = []

    def credentials(portal: str) -> AccountCredentials:
        calls.append(portal)
        return oauth(sims[portal])

    with MultiAccountClient(credentials=credentials) as clients:
        assert clients.client_for("111") is clients.client_for("0111") is clients.client_for(" 111 ")
        assert calls == ["111"]
        with pytest.raises(InvalidInputError) as caught:
            clients.client_for("abc")
        assert caught.value.field == "portal_id"


def test_a_refused_account_never_refuses_another(sims):
    bad, good = sims["111"], sims["222"]
    creds = {
        # A static token HubSpot refuses (401): remembered for that account only.
        "111": AccountCredentials(config=config(bad.base_url), access_token="not-a-token-of-anyone-1234567890"),
        "222": oauth(good),
        # A revoked refresh token: the token endpoint refuses it, finally.
        "333": oauth(sims["333"], refresh_token="revoked-" + "x" * 30),
    }
    with MultiAccountClient(credentials=creds.__getitem__) as clients:
        message = good.add_message(1001)
        with pytest.raises(HubSpotAuthenticationError):
            clients.client_for("111").get_channel(1001)
        with pytest.raises(HubSpotAuthenticationError, match="not sent"):
            clients.client_for("111").get_channel(1001)  # remembered: no request
        with pytest.raises(HubSpotTokenRefreshError):
            clients.client_for("333").get_channel(1001)
        clients.client_for("222").update_message_status(1001, message["id"], "SENT")
        assert api_calls(bad) == [("GET", 401)]
        assert api_calls(good) == [("PATCH", 200)]


def test_a_refresh_token_of_another_account_never_writes():
    # The store holds account 222's refresh token under account 111 (a copy-paste slip): 111's client must refuse
    # the token answer (it names 222) and send nothing, to either account.
    # (Without rotation: a single-use refresh token would be burnt by the refused refresh, and HubSpot does not
    # document rotating them.)
    with HubSpotSimulator(hub_id=222) as other, MultiAccountClient(credentials=lambda portal: oauth(other)) as clients:
        message = other.add_message(1001)
        with pytest.raises(HubSpotAccountMismatchError) as caught:
            clients.client_for("111").update_message_status(1001, message["id"], "FAILED", "late")
        assert "111" in str(caught.value) and "222" in str(caught.value)
        assert api_calls(other) == []
        # The rightful account still works on the same transport.
        clients.client_for("222").update_message_status(1001, message["id"], "SENT")
        assert api_calls(other) == [("PATCH", 200)]


def test_credentials_are_read_once_per_account_under_contention(sims):
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def credentials(portal: str) -> AccountCredentials:
        with lock:
            calls[portal] += 1
        time.sleep(0.02)  # a slow secrets backend widens the race
        if portal == "444":
            raise AccountCredentialsError(portal, "no connection hubspot_channels_444", "create it")
        return oauth(sims[portal])

    portals = ["111", "222", "333", "444"]
    start = threading.Barrier(24)
    seen: list[object] = []

    def worker(index: int) -> None:
        start.wait()
        for portal in portals[index % 4 :] + portals[: index % 4]:
            try:
                seen.append((portal, clients.client_for(portal)))
            except AccountCredentialsError as exc:
                seen.append((portal, type(exc), exc.portal_id, str(exc)))

    with MultiAccountClient(credentials=credentials) as clients:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert calls == Counter(dict.fromkeys(portals, 1))
    by_portal: dict[str, set[object]] = {}
    for portal, *rest in seen:
        by_portal.setdefault(portal, set()).add(id(rest[0]) if len(rest) == 1 else tuple(rest))
    assert all(len(values) == 1 for values in by_portal.values())  # one client (or one error) per account
    (failure,) = by_portal["444"]
    assert failure[0] is AccountCredentialsError and failure[1] == "444" and "create it" in failure[2]


def test_a_failing_lookup_is_cached_and_never_shows_its_text(sims):
    calls: list[str] = []

    def credentials(portal: str) -> AccountCredentials:
        calls.append(portal)
        raise RuntimeError("postgres://user:hunter2-secret@db/tokens is down")

    with MultiAccountClient(credentials=credentials) as clients:
        for _ in range(3):
            with pytest.raises(AccountCredentialsError) as caught:
                clients.client_for("111")
            assert "hunter2" not in str(caught.value) and "RuntimeError" in str(caught.value)
            assert (
                caught.value.portal_id == "111" and caught.value.retry_may_succeed
            )  # not known missing: a retry may read it
    assert calls == ["111"]


def test_credentials_that_cannot_be_used_fail_that_account_only(sims):
    creds = {"111": AccountCredentials(config=config(sims["111"].base_url), access_token="bad token\nwith a break")}
    with MultiAccountClient(credentials=lambda portal: creds.get(portal) or oauth(sims[portal])) as clients:
        with pytest.raises(AccountCredentialsError) as caught:
            clients.client_for("111")
        assert "access_token" in str(caught.value) or "password" in str(caught.value)
        assert "with a break" not in str(caught.value)
        clients.client_for("222").authenticate()


def test_redaction_covers_every_account_everywhere(sims):
    with MultiAccountClient(credentials=lambda portal: oauth(sims[portal])) as clients:
        for portal in sims:
            clients.client_for(portal).authenticate()
        secrets = [sim.refresh_token for sim in sims.values()] + [sims["111"].client_secret]
        text = " | ".join(secrets)
        for redact in (clients.redact, clients.client_for("222").redact):
            assert all(secret not in redact(text) for secret in secrets)
        for client in [clients.client_for(p) for p in sims]:
            assert all(secret not in repr(client) for secret in secrets)
        assert all(secret not in repr(clients) for secret in secrets)


def test_stop_stops_built_and_later_clients(sims):
    clients = MultiAccountClient(credentials=lambda portal: oauth(sims[portal]))
    first = clients.client_for("111")
    clients.stop()
    with pytest.raises(ClientStoppedError):
        first.get_channel(1001)
    with pytest.raises(ClientStoppedError):
        clients.client_for("222").get_channel(1001)  # built after the stop
    clients.close()
    clients.close()  # once is enough; twice is harmless
    assert all(api_calls(sim) == [] for sim in sims.values())


def test_the_default_account_is_built_lazily_on_the_shared_transport(sims):
    built: list[HubSpotChannelsClient] = []

    def default(shared):
        built.append(
            HubSpotChannelsClient(
                config=config(sims["333"].base_url), access_token=sims["333"].access_token, shared=shared
            )
        )
        return built[-1]

    with MultiAccountClient(credentials=lambda portal: oauth(sims[portal]), default=default) as clients:
        clients.client_for("111").authenticate()
        assert built == []
        assert clients.client_for(None) is clients.client_for(None) is built[0]
        assert built[0].session is clients.client_for("111").session
    with (
        MultiAccountClient(credentials=lambda portal: oauth(sims[portal])) as clients,
        pytest.raises(AccountCredentialsError),
    ):
        clients.client_for(None)


def test_many_threads_over_many_accounts_stay_within_the_pool(sims):
    # 16 threads, 3 accounts on 3 origins, pool_size 2: never more than 2 kept connections per origin.
    with MultiAccountClient(credentials=lambda portal: oauth(sims[portal]), pool_size=2) as clients:
        for sim in sims.values():
            for _ in range(8):
                sim.add_message(1001)
        errors: list[BaseException] = []

        def worker(portal: str) -> None:
            try:
                for message in sims[portal].list_messages(1001)[:8]:
                    clients.client_for(portal).get_message(1001, message["id"])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(p,)) for p in list(sims) * 5]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        adapter = clients.client_for("111").session.get_adapter(sims["111"].base_url)
        pools = list(adapter._pools.values())
        assert len(pools) == 3 and all(pool.pool.maxsize == 2 and pool.pool.qsize() == 2 for pool in pools)


@pytest.fixture
def token_server() -> Iterator[str]:
    """A token endpoint in a child process whose refresh tokens ``rt-<portal>-...`` belong to that account."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.client._token_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        yield f"http://127.0.0.1:{int(child.stdout.readline())}"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)


def test_memory_per_account_is_small(token_server):
    # 1,000 accounts, each with its own refresh token and a fresh access token (and their redaction forms).
    accounts = 1000
    creds = {
        str(1000 + i): AccountCredentials(
            config=config(token_server),
            client_id="app-client-id",
            client_secret="app-client-secret-0123456789",
            refresh_token=f"rt-{1000 + i}-{secrets.token_urlsafe(24)}",
        )
        for i in range(accounts)
    }
    threads_before = threading.active_count()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        clients = MultiAccountClient(credentials=creds.__getitem__, pool_size=4)
        for portal in creds:
            clients.client_for(portal).authenticate()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    per_account = grown / accounts
    print(f"\nmemory per account (client, budget, tokens, redaction forms): {per_account:.0f} bytes")
    assert per_account < 10_000
    assert threading.active_count() <= threads_before + 1  # one watchdog, no thread per account
    clients.close()


@settings(max_examples=150, deadline=None)
@given(
    lookups=st.lists(
        st.tuples(st.integers(min_value=1, max_value=12), st.integers(min_value=0, max_value=2)), max_size=40
    )
)
def test_property_one_lookup_per_account_and_a_stable_answer(lookups):
    # Any order of lookups, any spelling (leading zeros), failing accounts among them: the credentials are read once
    # per account, an account always gets the same client, a failing one always the same error.
    calls: Counter[str] = Counter()

    def credentials(portal: str) -> AccountCredentials:
        calls[portal] += 1
        if int(portal) % 3 == 0:
            raise AccountCredentialsError(portal, "no credentials", "add them")
        return AccountCredentials(config=ClientConfig(base_url="http://127.0.0.1:9"), access_token=f"token-{portal}")

    seen: dict[str, object] = {}
    with MultiAccountClient(credentials=credentials) as clients:
        for number, zeros in lookups:
            spelled = "0" * zeros + str(number)
            try:
                answer: object = clients.client_for(spelled)
            except AccountCredentialsError as exc:
                assert exc.portal_id == str(number)
                answer = "failed"
            assert seen.setdefault(str(number), answer) is answer or answer == "failed" == seen[str(number)]
    assert set(calls.values()) <= {1} and set(calls) == {str(n) for n, _ in lookups}


@settings(max_examples=150, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60),
    oauth_mode=st.booleans(),
)
def test_property_credentials_never_show_a_secret(secret, oauth_mode):
    def creds(value: str) -> AccountCredentials:
        if oauth_mode:
            return AccountCredentials(client_id="app", client_secret=value, refresh_token=value)
        return AccountCredentials(access_token=value)

    # The text does not depend on the secret at all.
    assert repr(creds(secret)) == repr(creds("other-secret")) and str(creds(secret)) == str(creds("other-secret"))


def test_accounts_sharing_one_base_url_each_send_their_own_token():
    # One origin for every account, as HubSpot's api.hubapi.com: the token answer names the account of each refresh
    # token (rt-<portal>-...), and the API records which account's token each request carried.
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def answer(method: str, path: str, headers: dict[str, str], body: bytes):
        if path.startswith("/oauth/"):
            form = dict(pair.split("=", 1) for pair in body.decode().split("&"))
            portal = form["refresh_token"].split("-")[1]
            return json_reply(200, {"access_token": f"at-{portal}-{secrets.token_hex(8)}", "hub_id": portal})
        with lock:
            seen.append((headers["authorization"].split("-")[1], path))
        return json_reply(200, {"id": path.rsplit("/", 1)[1], "status": {"statusType": "SENT"}})

    with ScriptedServer(answer) as server:
        creds = {
            portal: AccountCredentials(
                config=config(server.base_url),
                client_id="app",
                client_secret="app-secret-0123456789",
                refresh_token=f"rt-{portal}-{secrets.token_hex(8)}",
            )
            for portal in ("111", "222", "333")
        }
        with MultiAccountClient(credentials=creds.__getitem__, pool_size=2) as clients:
            threads = [
                threading.Thread(
                    target=lambda p=portal, n=n: clients.client_for(p).update_message_status(1001, f"m-{p}-{n}", "SENT")
                )
                for portal in creds
                for n in range(4)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            adapter = clients.client_for("111").session.get_adapter(server.base_url)
            assert len(adapter._pools) == 1  # one pool for every account of the origin
    assert len(seen) == 12
    assert all(path.endswith(f"/m-{portal}-{path[-1]}") for portal, path in seen)
