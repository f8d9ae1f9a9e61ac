"""Review of issue 15: what one account's trouble (or a run's failure) may do to a multi-account batch. Real HTTP
against the simulator, except where a client must answer what HubSpot does not on demand (429 through every retry)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_hubspot_channels.client import Answer, ClientConfig, HubSpotRetriesExhaustedError
from airflow_provider_hubspot_channels.client.accounts import (
    AccountCredentials,
    AccountCredentialsError,
    MultiAccountClient,
)
from airflow_provider_hubspot_channels.client.errors import ErrorDetails
from airflow_provider_hubspot_channels.reconciliation import Decision, RunReport, iter_plan
from airflow_provider_hubspot_channels.runner.lookup import StatusLookup
from airflow_provider_hubspot_channels.runner.reconcile import NO_ANSWER_LIMIT, run_plan
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.runner.test_account_troubles_properties import CREATED, POLICY, Router


def _rows(portals: tuple[str, ...], per: int) -> list[dict[str, Any]]:
    return [
        {"portal_id": p, "channel_id": 1001, "message_id": f"{p}-{i}", "created_at": CREATED}
        for p in portals
        for i in range(per)
    ]


def _failed(messages: list[dict[str, Any]]) -> int:
    return sum((m.get("status") or {}).get("statusType") == "FAILED" for m in messages)


@pytest.mark.parametrize("threads", [1, 4])
def test_a_default_account_that_cannot_be_built_ends_only_rows_without_portal_id(threads: int) -> None:
    with HubSpotSimulator(hub_id=101, rate_limit=None, access_token="token-101") as sim:
        for i in range(20):
            sim.add_message(1001, f"m{i}", created_at=CREATED)

        def default(_shared: object) -> Any:
            raise LookupError("The conn_id `hubspot_channels_default` isn't defined (https://user:pw@db)")

        multi = MultiAccountClient(
            credentials=lambda _p: AccountCredentials(
                config=ClientConfig(base_url=sim.base_url, timeout=3), access_token="token-101"
            ),
            default=default,
            pool_size=4,
        )
        rows = [
            {"portal_id": "101", "channel_id": 1001, "message_id": f"m{i}", "created_at": CREATED} for i in range(19)
        ]
        rows.insert(2, {"channel_id": 1001, "message_id": "m19", "created_at": CREATED})
        out: list[Any] = []
        with multi:
            result = run_plan(
                iter_plan(rows, POLICY), multi, report=RunReport(), sink=out.append, max_concurrency=threads
            )
        assert len(out) == len(rows)
        assert [o.outcome.value for o in out if o.portal_id == "101"] == ["marked_failed"] * 19
        (lost,) = [o for o in out if o.portal_id is None]
        assert lost.outcome.value == "not_attempted" and "LookupError" in lost.reason
        assert "pw@" not in lost.reason and "isn't defined" not in lost.reason
        assert list(result.stopped_accounts) == ["connection"]
        assert _failed(sim.list_messages(1001)) == 19


class _Raising:
    """A router whose client_for raises what nobody expects, after some rows went through."""

    def __init__(self, fine: Any, after: int) -> None:
        self.fine, self.after, self.asked = fine, after, 0

    def client_for(self, portal_id: str | None) -> Any:
        self.asked += 1
        if self.asked > self.after:
            raise RuntimeError("boom")
        return self.fine

    def redact(self, text: str) -> str:
        return text

    def stop(self) -> None:
        pass


def _plan_raising_after(rows: list[dict[str, Any]], after: int) -> Iterator[Decision]:
    for n, decision in enumerate(iter_plan(rows, POLICY)):
        if n == after:
            raise RuntimeError("the store went away")
        yield decision


@pytest.mark.parametrize("threads", [1, 3, 8])
@pytest.mark.parametrize("where", ["client", "plan"])
def test_a_run_that_fails_still_gives_every_row_it_read_exactly_one_row(threads: int, where: str) -> None:
    with HubSpotSimulator(hub_id=101, rate_limit=None, access_token="token-101") as sim:
        for i in range(40):
            sim.add_message(1001, f"101-{i}", created_at=CREATED)
        rows = _rows(("101",), 40)
        out: list[Any] = []
        with MultiAccountClient(
            credentials=lambda _p: AccountCredentials(
                config=ClientConfig(base_url=sim.base_url, timeout=3), access_token="token-101"
            ),
            pool_size=4,
        ) as multi:
            router: Any = _Raising(multi.client_for("101"), after=5) if where == "client" else multi
            plan = iter_plan(rows, POLICY) if where == "client" else _plan_raising_after(rows, 10)
            with pytest.raises(RuntimeError):
                run_plan(plan, router, report=RunReport(), sink=out.append, max_concurrency=threads)
        indexes = [o.index for o in out]
        assert len(indexes) == len(set(indexes))
        expected = 40 if where == "client" else 10  # a plan that failed has no rows past its failure
        assert sorted(indexes) == list(range(expected))


class _Busy:
    def read_message(self, channel_id: int | str, message_id: str) -> Answer:
        raise HubSpotRetriesExhaustedError(
            ErrorDetails(status=429, policy_name="TEN_SECONDLY_ROLLING"), method="GET", path="/x", attempts=4
        )

    def write_status(self, update: Any) -> Answer:
        raise AssertionError("never reached")

    def redact(self, text: str) -> str:
        return text

    def stop(self) -> None:
        pass


class _Down(_Busy):
    def read_message(self, channel_id: int | str, message_id: str) -> Answer:
        raise HubSpotRetriesExhaustedError(ErrorDetails(status=503), method="GET", path="/x", attempts=4)


class _Mixed:
    def __init__(self, bad: Any, good: Any) -> None:
        self.bad, self.good = bad, good

    def client_for(self, portal_id: str | None) -> Any:
        return self.bad if portal_id == "101" else self.good.client_for(portal_id)

    def redact(self, text: str) -> str:
        return text

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("threads", [1, 4])
def test_a_busy_account_stops_only_itself_and_hubspot_down_still_stops_the_batch(threads: int) -> None:
    with HubSpotSimulator(hub_id=102, rate_limit=None, access_token="token-102") as sim:
        for i in range(5):
            sim.add_message(1001, f"102-{i}", created_at=CREATED)
        rows = _rows(("101", "102"), 5)
        with MultiAccountClient(
            credentials=lambda _p: AccountCredentials(
                config=ClientConfig(base_url=sim.base_url, timeout=3), access_token="token-102"
            ),
            pool_size=4,
        ) as multi:
            out: list[Any] = []
            result = run_plan(
                iter_plan(rows, POLICY),
                _Mixed(_Busy(), multi),
                report=RunReport(),
                sink=out.append,
                max_concurrency=threads,
            )
            assert result.stopped_reason is None and not result.hubspot_down
            assert _failed(sim.list_messages(1001)) == 5
            busy = [o for o in out if o.portal_id == "101"]
            assert sum(o.outcome.value == "error" for o in busy) == NO_ANSWER_LIMIT
            skipped = [o for o in busy if o.outcome.value == "not_attempted"]
            assert len(skipped) == 5 - NO_ANSWER_LIMIT
            assert all(o.reason.startswith("not attempted, account 101: busy:") for o in skipped)
            assert len(out) == len(rows)

            out = []
            result = run_plan(
                iter_plan(_rows(("101",), 5) + _rows(("102",), 1), POLICY),
                _Mixed(_Down(), multi),
                report=RunReport(),
                sink=out.append,
                max_concurrency=1,
            )
            assert result.hubspot_down and result.stopped_reason is not None
            assert len(out) == 6


def test_one_accounts_setup_error_stops_only_that_account() -> None:
    with HubSpotSimulator(hub_id=101, rate_limit=None, access_token="token-101") as sim:
        second = sim.add_account(102)
        for i in range(5):
            sim.add_message(1001, f"101-{i}", created_at=CREATED)
            second.add_message(1001, f"102-{i}", created_at=CREATED)
        token = second.issue_token()

        def creds(portal: str) -> AccountCredentials:
            url = sim.base_url.replace("http://", "https://") if portal == "101" else sim.base_url
            tok = "token-101" if portal == "101" else token
            return AccountCredentials(config=ClientConfig(base_url=url, timeout=3, max_retries=1), access_token=tok)

        out: list[Any] = []
        with MultiAccountClient(credentials=creds, pool_size=4) as multi:
            result = run_plan(
                iter_plan(_rows(("101", "102"), 5), POLICY),
                multi,
                report=RunReport(),
                sink=out.append,
                max_concurrency=2,
            )
        assert _failed(second.list_messages(1001)) == 5
        assert list(result.stopped_accounts) == ["101"] and result.stopping_error is None
        assert all(
            o.reason.startswith(("account 101", "not attempted, account 101")) for o in out if o.portal_id == "101"
        )
        assert len(out) == 10


@pytest.mark.parametrize("accounts", [60, 70])
def test_verify_by_thread_reads_once_per_thread_however_many_accounts(accounts: int) -> None:
    logging.disable(logging.WARNING)
    try:
        per = 3
        with HubSpotSimulator(hub_id=1000, rate_limit=None) as sim:
            tokens: dict[str, str] = {}
            threads: dict[str, str] = {}
            for k in range(accounts):
                account = sim.account(1000) if k == 0 else sim.add_account(1000 + k)
                tokens[str(account.hub_id)] = account.issue_token()
                threads[str(account.hub_id)] = str(account.add_thread(1001)["id"])
                for i in range(per):
                    account.add_message(
                        1001, f"{account.hub_id}-{i}", created_at=CREATED, thread_id=int(threads[str(account.hub_id)])
                    )
            rows = [  # round-robin across accounts, as split_by_account orders them
                {
                    "portal_id": p,
                    "channel_id": 1001,
                    "message_id": f"{p}-{i}",
                    "created_at": CREATED,
                    "conversations_thread_id": threads[p],
                }
                for i in range(per)
                for p in tokens
            ]
            with MultiAccountClient(
                credentials=lambda p: AccountCredentials(
                    config=ClientConfig(base_url=sim.base_url, timeout=5), access_token=tokens[p]
                ),
                pool_size=4,
            ) as multi:
                run_plan(
                    iter_plan(rows, POLICY),
                    multi,
                    report=RunReport(),
                    max_concurrency=4,
                    readers=lambda client: StatusLookup(client, by_thread=True, max_messages=1_250),  # type: ignore[arg-type]
                )
            reads = [e for e in sim.request_log if e.method == "GET"]
            assert len(reads) == accounts  # one listing per account's thread
    finally:
        logging.disable(logging.NOTSET)


def test_readers_of_many_accounts_share_what_64_would_keep() -> None:
    from airflow_provider_hubspot_channels.client import HubSpotChannelsClient
    from airflow_provider_hubspot_channels.runner.accounts import KEPT_READERS, SHARED_READERS, Readers

    client = HubSpotChannelsClient(config=ClientConfig(base_url="http://127.0.0.1:9"), access_token="t")
    readers = Readers(lambda c: StatusLookup(c, by_thread=True, max_threads=125, max_messages=1_250))  # type: ignore[arg-type]
    built = [readers.get(str(k), client) for k in range(1, 1_001)]
    assert len(readers) == KEPT_READERS and readers.get("1000", client) is built[-1]  # the recent ones kept
    lookups: list[Any] = built[-KEPT_READERS:]
    assert sum(r.max_messages for r in lookups) <= SHARED_READERS * 1_250
    assert sum(r.max_threads for r in lookups) <= SHARED_READERS * 125 + KEPT_READERS  # at least 1 each
    assert all(r.max_messages >= 1 and r.max_threads >= 1 for r in lookups)
    client.close()


class _OneThreadClient:
    """A client whose every thread listing holds 100 messages (one page), for the readers' memory."""

    def __init__(self, account: int) -> None:
        self.account = account

    def list_thread_messages(self, thread: Any, max_pages: int = 1) -> Answer:
        results = [
            {
                "type": "MESSAGE",
                "id": f"{self.account}-{thread}-{i}",
                "channelId": 1001,
                "direction": "OUTGOING",
                "status": {"statusType": "SENT"},
            }
            for i in range(100)
        ]
        return Answer({"results": results}, 1, 0)

    def read_message(self, channel_id: int, message_id: str) -> Answer:
        raise AssertionError("read by thread")


def test_the_readers_memory_stays_bounded_however_many_accounts() -> None:
    # Review: with a reader per account for the whole run, 2,048 accounts kept 202,752 listed messages (each reader
    # keeps at least its last listing, and finished accounts never trim).
    from airflow_provider_hubspot_channels.runner.accounts import Readers

    def cached(accounts: int) -> int:
        readers = Readers(lambda c: StatusLookup(c, by_thread=True, max_threads=125, max_messages=1_250))  # type: ignore[arg-type]
        for account in range(accounts):
            readers.get(str(account), _OneThreadClient(account)).read(1001, f"{account}-7-0", "7")  # type: ignore[arg-type]
        return sum(reader._cached for reader in readers._readers.values())  # type: ignore[attr-defined]

    assert cached(2_048) == cached(512) <= 64 * 1_250


@pytest.mark.parametrize(
    ("failure", "retryable"),
    [
        (TimeoutError("secrets backend timed out"), True),  # not known to be missing: a retry may read it
        (AccountCredentialsError("of the connection", "there is no Airflow connection 'hs'", "create it"), False),
    ],
)
def test_a_default_client_that_failed_to_build_fails_the_task_retryably_only_when_a_retry_may_cure_it(
    failure: Exception, retryable: bool
) -> None:
    # Review: any failure became a final AccountCredentialsError, so a secrets backend that timed out failed the task
    # without its retries.
    from airflow_provider_hubspot_channels.operators.errors import AirflowException

    def factory(shared: Any) -> Any:
        raise failure

    rows = [{"channel_id": 1001, "message_id": f"m{i}", "created_at": "2026-11-24T10:00:00Z"} for i in range(5)]
    clients = MultiAccountClient(credentials=lambda portal: (_ for _ in ()).throw(AssertionError()), default=factory)
    raised, _ = _task_error(rows, clients, max_concurrency=2)
    assert (type(raised) is AirflowException) is retryable


def test_a_task_with_busy_accounts_does_not_say_the_rest_was_processed() -> None:
    # Review: two accounts stopped as busy left 18 rows not attempted, and the task said "the rest was processed".
    from airflow_provider_hubspot_channels.operators.errors import AirflowException

    troubles = {"1": "busy", "2": "busy"}
    rows = [
        {"portal_id": p, "channel_id": 1001, "message_id": f"{p}-{i}", "created_at": CREATED}
        for i in range(12)
        for p in troubles
    ]
    raised, summary = _task_error(rows, Router(troubles), max_concurrency=1)
    assert summary["counts"]["not_attempted"] > 0
    assert isinstance(raised, AirflowException)
    assert "the rest was processed" not in str(raised)
    assert f"{summary['counts']['not_attempted']} were not attempted" in str(raised)


def _task_error(rows: list[dict[str, Any]], clients: Any, *, max_concurrency: int) -> tuple[Exception, dict[str, Any]]:
    """Run the batch through the real runner, then the operators' summary and raise, as ``run_batch`` does: the
    exception the task would end with, and the summary."""
    from airflow_provider_hubspot_channels.operators import batch
    from airflow_provider_hubspot_channels.operators.errors import AirflowException, AirflowFailException

    class Task:
        hubspot_conn_id = "hs"
        _killed = False
        retry_policy = None

    report = RunReport()
    result = run_plan(iter_plan(rows, POLICY), clients, report=report, max_concurrency=max_concurrency)
    summary = report.summary(
        reference_time=None,
        stale_after=None,
        dry_run=False,
        verify_status=True,
        duration_seconds=0.0,
        stopped_reason=result.stopped_reason,
    )
    with pytest.raises((AirflowException, AirflowFailException)) as raised:
        batch._raise_for(Task(), result, summary, verify_status=True, report_path=None)  # type: ignore[arg-type]
    return raised.value, summary


def test_an_accounts_credentials_lookup_that_failed_stays_retryable_when_asked_again() -> None:
    # Found reading the change: the remembered failure was raised again without its retryable flag, so a per-account
    # lookup that timed out failed the task for good.
    def lookup(portal: str) -> AccountCredentials:
        raise TimeoutError("database timed out")

    clients = MultiAccountClient(credentials=lookup)
    for _ in range(2):
        with pytest.raises(AccountCredentialsError) as raised:
            clients.client_for("701")
        assert raised.value.retry_may_succeed
    clients.close()
