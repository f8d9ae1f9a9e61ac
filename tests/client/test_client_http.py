"""The client against the simulator over real HTTP on 127.0.0.1: every method, every fault kind, auth and limits."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from airflow_provider_hubspot_channels.client import (
    ClientConfig,
    HubSpotChannelsClient,
    HubSpotConnectionError,
    HubSpotDailyLimitError,
    HubSpotNotFoundError,
    HubSpotPermissionError,
    HubSpotRetriesExhaustedError,
    HubSpotTokenRefreshError,
    InvalidInputError,
)
from airflow_provider_hubspot_channels.client.retry import RetryPolicy
from airflow_provider_hubspot_channels.simulator import FaultConfig, HubSpotSimulator
from airflow_provider_hubspot_channels.simulator.state import DEFAULT_INBOX_ID

FAST_RETRIES = RetryPolicy(max_retries=4, max_total_wait=30, backoff_base=0.01, backoff_max=0.05, lock_wait=0.05)


def make_client(
    sim: HubSpotSimulator, *, retry_policy: RetryPolicy | None = FAST_RETRIES, **kwargs
) -> HubSpotChannelsClient:
    config = kwargs.pop("config", None) or ClientConfig(base_url=sim.base_url, max_requests_per_10s=1000, timeout=5)
    if not {"client_id", "access_token"} & kwargs.keys():
        kwargs["access_token"] = sim.access_token
    return HubSpotChannelsClient(config=config, retry_policy=retry_policy, **kwargs)


def api_requests(sim: HubSpotSimulator) -> list:
    return [entry for entry in sim.request_log if not entry.path.startswith("/oauth")]


@pytest.fixture
def sim():
    with HubSpotSimulator() as simulator:
        yield simulator


def test_get_update_and_read_back(sim):
    sim.add_message(1001, "m-1")
    with make_client(sim) as client:
        updated = client.update_message_status(1001, "m-1", "failed", "Carrier rejected the number.")
        assert updated["status"]["statusType"] == "FAILED"
        assert updated["status"]["failureDetails"]["errorMessage"] == "Carrier rejected the number."
        assert client.get_message("1001", "m-1")["status"]["statusType"] == "FAILED"
        assert client.get_channel(1001)["id"] == "1001"
    assert [h["statusType"] for h in sim.status_history(1001, "m-1")][-1] == "FAILED"


def test_opaque_ids_are_url_encoded(sim):
    sim.add_message(1001, "a/b?c#d %")
    with make_client(sim) as client:
        assert client.update_message_status(1001, "a/b?c#d %", "READ")["id"] == "a/b?c#d %"


def test_publish_message(sim):
    person = {"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550100"}, "name": "Ada"}
    with make_client(sim) as client:
        account = sim.add_channel_account(1001)
        created = client.publish_message(
            1001,
            channel_account_id=str(account["id"]),
            text="hello",
            senders=[person],
            recipients=[person],
        )
    assert created["text"] == "hello" and created["direction"] == "INCOMING"


def test_a_publish_whose_answer_was_lost_is_not_duplicated():
    person = {"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550100"}}
    with HubSpotSimulator(faults=FaultConfig(script=("reset_after",), only_methods=frozenset({"POST"}))) as sim:
        account = sim.add_channel_account(1001)
        with make_client(sim) as client:
            created = client.publish_message(
                1001, channel_account_id=str(account["id"]), text="only once", senders=[person], recipients=[person]
            )
        posts = [e for e in sim.request_log if e.method == "POST"]
        assert len(posts) == 2  # the first landed, its answer was lost, the retry got the same message
        assert [m["id"] for m in sim.list_messages(1001) if m["text"] == "only once"] == [created["id"]]


def test_invalid_input_sends_no_request(sim):
    with make_client(sim) as client:
        for args in [(1001, "m", "DELIVERED"), (1001, "m", "SENT", "no"), (-1, "m", "READ"), (1001, " ", "READ")]:
            with pytest.raises(InvalidInputError):
                client.update_message_status(*args)
        with pytest.raises(InvalidInputError):
            client.publish_message(1001, channel_account_id="1", text="x", senders=[{}], recipients=[])
    assert api_requests(sim) == []


@pytest.mark.parametrize("kind", ["429", "423", "500", "502_html", "503", "504_html", "reset"])
def test_each_transient_fault_is_retried(kind):
    with HubSpotSimulator(faults=FaultConfig(script=(kind,), retry_after=0)) as sim:
        sim.add_message(1001, "m-1")
        with make_client(sim) as client:
            assert client.update_message_status(1001, "m-1", "FAILED", "x")["status"]["statusType"] == "FAILED"
        assert len(api_requests(sim)) == 2
        assert sum(sim.faults_injected.values()) == 1


def test_persistent_5xx_exhausts_retries_with_details():
    with HubSpotSimulator(faults=FaultConfig(script=("503_html",) * 10)) as sim:
        sim.add_message(1001, "m-1")
        with make_client(sim) as client, pytest.raises(HubSpotRetriesExhaustedError) as info:
            client.get_message(1001, "m-1")
        assert info.value.attempts == 5 and info.value.status == 503
        assert len(api_requests(sim)) == 5


def test_no_answer_at_all_is_a_connection_error():
    with (
        HubSpotSimulator(faults=FaultConfig(script=("reset",) * 10)) as sim,
        make_client(sim) as client,
        pytest.raises(HubSpotConnectionError, match="after 5 attempts"),
    ):
        client.get_channel(1001)


def test_slow_answer_is_bounded_by_the_timeout():
    with HubSpotSimulator(faults=FaultConfig(script=("slow",) * 3, slow_seconds=2.0)) as sim:
        config = ClientConfig(base_url=sim.base_url, timeout=0.2, max_retries=2, max_retry_wait=0.1)
        policy = RetryPolicy(max_retries=2, max_total_wait=0.1, backoff_base=0.01, backoff_max=0.01)
        started = time.monotonic()
        with make_client(sim, config=config, retry_policy=policy) as client, pytest.raises(HubSpotConnectionError):
            client.get_channel(1001)
        elapsed = time.monotonic() - started
    # 3 attempts of at most connect + read timeout (0.4 s) plus 0.1 s of waits: 1.3 s, not the 2 s answers x 3.
    # The documented worst case also allows two re-sends after 401 EXPIRED_AUTHENTICATION and a token POST
    # before each attempt: (3 + 2) * 2 * 0.4 + 0.1.
    assert config.worst_case_call_seconds() == pytest.approx(4.1)
    assert elapsed < 3 * config.attempt_seconds + 0.1 + 0.5


def test_404_is_final(sim):
    with make_client(sim) as client, pytest.raises(HubSpotNotFoundError) as info:
        client.get_message(1001, "nope")
    assert info.value.correlation_id and len(api_requests(sim)) == 1


def test_missing_scopes_are_listed(sim):
    sim.add_message(1001, "m-1")
    token = sim.issue_token(scopes=["conversations.custom_channels.read"])
    with make_client(sim, access_token=token) as client, pytest.raises(HubSpotPermissionError) as info:
        client.update_message_status(1001, "m-1", "READ")
    assert "conversations.custom_channels.write" in info.value.missing_scopes
    assert len(api_requests(sim)) == 1


def test_daily_limit_is_not_retried():
    with HubSpotSimulator(daily_limit=2) as sim:
        sim.add_message(1001, "m-1")
        with make_client(sim) as client:
            client.get_message(1001, "m-1")
            client.get_message(1001, "m-1")
            with pytest.raises(HubSpotDailyLimitError, match="DAILY"):
                client.get_message(1001, "m-1")
        assert len(api_requests(sim)) == 3


def test_rate_limit_429_is_waited_out_and_budget_adapts():
    with HubSpotSimulator(rate_limit=5, rate_window_seconds=1.0) as sim:
        sim.add_message(1001, "m-1")
        # The client believes it may send 1000 per 10 s; HubSpot's headers teach it otherwise.
        with make_client(sim, retry_policy=RetryPolicy(max_retries=6, backoff_base=0.01)) as client:
            for _ in range(12):
                client.get_message(1001, "m-1")
            assert client.budget.limit <= 5
        assert sim.status_counts[200] == 12


def test_static_token_expired_fails_without_refresh(sim):
    token = sim.issue_token()
    sim.expire_token(token)
    with make_client(sim, access_token=token) as client, pytest.raises(Exception, match="EXPIRED_AUTHENTICATION"):
        client.get_channel(1001)


def test_oauth_refreshes_once_for_many_threads(sim):
    sim.add_message(1001, "m-1")
    client = make_client(sim, client_id=sim.client_id, client_secret=sim.client_secret, refresh_token=sim.refresh_token)
    errors = []

    def call():
        try:
            client.get_message(1001, "m-1")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    client.close()
    assert errors == [] and sim.token_requests == 1


def test_expired_oauth_token_is_refreshed_once_and_the_call_succeeds(sim):
    seen = []
    stale = sim.issue_token()
    sim.expire_token(stale)
    client = make_client(
        sim,
        access_token=stale,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        refresh_token=sim.refresh_token,
        on_new_token=seen.append,
    )
    with client:
        assert client.get_channel(1001)["id"] == "1001"
    assert sim.token_requests == 1 and len(seen) >= 1 and stale not in seen


def test_revoked_refresh_token_fails_fast(sim):
    sim.revoke_refresh_token(sim.refresh_token)
    client = make_client(sim, client_id=sim.client_id, client_secret=sim.client_secret, refresh_token=sim.refresh_token)
    with client, pytest.raises(HubSpotTokenRefreshError):
        client.get_channel(1001)
    assert len(sim.request_log) == 1  # the token request only: no retry storm


def test_refresh_ahead_of_expiry_with_an_injected_clock(sim):
    from airflow_provider_hubspot_channels.client.auth import OAuthRefresher

    now = [0.0]
    import requests

    with requests.Session() as session:
        refresher = OAuthRefresher(
            session=session,
            token_url=sim.base_url + "/oauth/2026-03/token",
            client_id=sim.client_id,
            client_secret=sim.client_secret,
            refresh_token=sim.refresh_token,
            timeout=(5, 5),
            on_new_token=lambda _t: None,
            clock=lambda: now[0],
        )
        first = refresher.token()
        now[0] = 1800 - 301  # more than 5 minutes left: keep the token
        assert refresher.token() == first and sim.token_requests == 1
        now[0] = 1800 - 299  # less than 5 minutes left: refresh ahead of expiry
        assert refresher.token() != first and sim.token_requests == 2


def test_inbox_paging_walks_every_page(sim):
    created = [sim.add_message(1001, f"p-{i}") for i in range(7)]
    inbox = DEFAULT_INBOX_ID
    with make_client(sim) as client:
        threads = list(
            client.iter_threads(inbox_id=inbox, latest_message_timestamp_after="2000-01-01T00:00:00Z", page_size=2)
        )
        thread_ids = {t["id"] for t in threads}
        assert len(thread_ids) == len(threads)
        messages = [m for t in threads for m in client.iter_thread_messages(t["id"], page_size=2)]
    ids = {m["id"] for m in messages if m.get("type") == "MESSAGE"}
    assert {m["id"] for m in created} <= ids


def test_jitter_source_is_injectable():
    policy = RetryPolicy(rng=random.Random(5))
    assert policy.backoff(3) == RetryPolicy(rng=random.Random(5)).backoff(3)


def test_the_connection_pool_is_found_once_and_replaced_once_closed(sim):
    # The adapter remembers the pool of its origin (no PoolManager lookup per request). urllib3 1.x closes a pool
    # it evicts: a closed pool must not be used again. Closing the client closes the remembered pool.
    sim.add_message(1001, "m-1")
    with make_client(sim) as client:
        adapter = client.session.get_adapter(sim.base_url)
        client.get_message(1001, "m-1")
        client.get_message(1001, "m-1")
        (first,) = adapter._pools.values()
        adapter.poolmanager.clear()  # an eviction: the manager forgets the pool ...
        first.close()  # ... and urllib3 1.x closes it
        assert client.get_message(1001, "m-1")["id"] == "m-1"
        (second,) = adapter._pools.values()
        assert second is not first and second.pool is not None
    assert second.pool is None and not adapter._pools


def test_request_parts_encoded_once_match_what_requests_would_send(sim):
    # The client builds each attempt's request itself: query, JSON body, headers and encoded ids must be what
    # Session.request would have sent.
    sim.add_message(1001, "a/b c")
    seen: list = []
    with make_client(sim) as client:
        client.session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response.request))
        client.update_message_status(1001, "a/b c", "FAILED", "Ünïcode: not delivered")
        list(client.iter_threads(inbox_id=DEFAULT_INBOX_ID, latest_message_timestamp_after="2026-01-01T00:00:00Z"))
    patch, first_page = seen[0], seen[1]
    assert patch.url.endswith("/messages/a%2Fb%20c")
    assert patch.headers["Content-Type"] == "application/json"
    assert patch.headers["Content-Length"] == str(len(patch.body))
    assert patch.headers["Authorization"] == f"Bearer {sim.access_token}"
    assert patch.headers["User-Agent"] == "airflow-provider-hubspot-channels"
    assert json.loads(patch.body) == {"statusType": "FAILED", "errorMessage": "Ünïcode: not delivered"}
    assert "latestMessageTimestampAfter=2026-01-01T00%3A00%3A00Z" in first_page.url
    assert f"inboxId={DEFAULT_INBOX_ID}" in first_page.url
    assert first_page.body is None and "Content-Length" not in first_page.headers


def test_a_body_that_is_not_json_is_refused_before_any_request(sim):
    person = {"deliveryIdentifier": {"type": "HS_PHONE_NUMBER", "value": "+15550100"}}
    with make_client(sim) as client, pytest.raises(InvalidInputError, match=r"body.*NaN"):
        client.publish_message(
            1001,
            channel_account_id="1",
            text="hi",
            senders=[person],
            recipients=[person],
            attachments=[{"x": float("nan")}],
        )
    assert api_requests(sim) == []
