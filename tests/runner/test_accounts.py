"""A batch of many HubSpot accounts through one runner: real HTTP, one simulator per account (its own hub id,
token, data and rate limit), real clients behind a small router as ``MultiAccountClient`` will be."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_hubspot_channels.client import ClientConfig, HubSpotChannelsClient, HubSpotChannelsError
from airflow_provider_hubspot_channels.reconciliation import Outcome, RunReport, StalenessPolicy, iter_plan
from airflow_provider_hubspot_channels.runner import progress
from airflow_provider_hubspot_channels.runner.progress import PROGRESS_KEY, DictStore, Progress, ResumeSpec
from airflow_provider_hubspot_channels.runner.reconcile import RunResult, run_plan
from airflow_provider_hubspot_channels.simulator import HubSpotSimulator

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
POLICY = StalenessPolicy(timedelta(minutes=15), NOW)
CHANNEL = 1001


class Router:
    """Clients per account, built once on first use; an account it has no token for has no credentials."""

    def __init__(self, sims: dict[str, HubSpotSimulator], tokens: dict[str, str], **config: Any) -> None:
        self.sims, self.tokens, self.config = sims, tokens, config
        self.clients: dict[str, HubSpotChannelsClient] = {}
        self.lock = threading.Lock()
        self.built: list[str] = []

    def client_for(self, portal_id: str | None) -> HubSpotChannelsClient:
        key = portal_id or "connection"
        with self.lock:
            if key not in self.clients:
                if key not in self.tokens:
                    raise HubSpotChannelsError(
                        f"no credentials for account {key}: add the Airflow connection hubspot_channels_{key}"
                    )
                config = ClientConfig(base_url=self.sims[key].base_url, timeout=5, **self.config)
                self.clients[key] = HubSpotChannelsClient(config=config, access_token=self.tokens[key])
                self.built.append(key)
            return self.clients[key]

    def redact(self, text: str) -> str:
        for client in list(self.clients.values()):
            text = client.redact(text)
        return text

    def stop(self) -> None:
        for client in list(self.clients.values()):
            client.stop()

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


@pytest.fixture
def accounts() -> Iterator[Any]:
    """Starts simulators on demand: ``accounts(["101", "102"], **simulator_kwargs)``; all stopped at the end."""
    with ExitStack() as stack:

        def start(portals: list[str], **kwargs: Any) -> dict[str, HubSpotSimulator]:
            kwargs.setdefault("rate_limit", None)
            return {
                p: stack.enter_context(HubSpotSimulator(hub_id=int(p), access_token=f"token-{p}", **kwargs))
                for p in portals
            }

        yield start


def records(sims: dict[str, HubSpotSimulator], per_account: int, *, interleave: bool = True) -> list[dict[str, Any]]:
    """Stale pending records of each account, one of each account in turn (or account after account)."""
    created = (NOW - timedelta(hours=1)).isoformat()
    rows = {
        portal: [
            {
                "portalId": portal,
                "channel_id": CHANNEL,
                "message_id": sim.add_message(CHANNEL, f"{portal}-m{i}", created_at=created)["id"],
                "created_at": created,
            }
            for i in range(per_account)
        ]
        for portal, sim in sims.items()
    }
    if not interleave:
        return [row for rows_of in rows.values() for row in rows_of]
    return [row for group in zip(*rows.values(), strict=True) for row in group]


def run(batch: list[dict[str, Any]], router: Router, **kwargs: Any) -> tuple[RunResult, list[Any], RunReport]:
    report, rows = RunReport(), list[Any]()
    kwargs.setdefault("max_concurrency", 4)
    try:
        result = run_plan(iter_plan(batch, POLICY), router, report=report, sink=rows.append, **kwargs)
    finally:
        router.close()
    return result, rows, report


def failed(sim: HubSpotSimulator) -> set[str]:
    return {m["id"] for m in sim.list_messages(CHANNEL) if (m.get("status") or {}).get("statusType") == "FAILED"}


def test_a_mixed_batch_ends_correct_per_account_and_no_token_reaches_another_account(accounts: Any) -> None:
    sims = accounts(["101", "102", "103"], latency=0.005)
    batch = records(sims, 12)
    router = Router(sims, {p: f"token-{p}" for p in sims})
    result, rows, report = run(batch, router)
    assert result.stopped_reason is None and result.stopping_error is None and not result.stopped_accounts
    assert report.counts[Outcome.MARKED_FAILED.value] == 36
    assert {row.portal_id for row in rows} == {"101", "102", "103"}
    for portal, sim in sims.items():
        assert failed(sim) == {f"{portal}-m{i}" for i in range(12)}
        log = sim.request_log
        # Every request was this account's: its token was accepted (a 401 would show another's) and it named only
        # this account's messages; a GET and a PATCH each.
        assert {entry.status for entry in log} == {200}
        assert all(entry.path.rsplit("/", 1)[-1].startswith(f"{portal}-") for entry in log)
        assert len(log) == 24
    assert sorted(router.built) == ["101", "102", "103"]


def test_a_refused_account_and_one_without_credentials_end_only_their_own_rows(accounts: Any) -> None:
    sims = accounts(["201", "202", "203"])
    batch = records(sims, 8)
    # 202's token is not one HubSpot knows (refused: 401); 203 has no credentials at all.
    router = Router(sims, {"201": "token-201", "202": "revoked-token"})
    result, rows, _ = run(batch, router)
    assert result.stopping_error is None and result.stopped_reason is None
    assert set(result.stopped_accounts) == {"202", "203"}
    by_account = {p: [row for row in rows if row.portal_id == p] for p in sims}
    assert {row.outcome for row in by_account["201"]} == {Outcome.MARKED_FAILED}
    assert failed(sims["201"]) == {f"201-m{i}" for i in range(8)}
    for portal in ("202", "203"):
        assert {row.outcome for row in by_account[portal]} == {Outcome.NOT_ATTEMPTED}
        assert all(f"account {portal}: " in row.reason for row in by_account[portal])
        assert not failed(sims[portal])
    assert "hubspot_channels_203" in by_account["203"][-1].reason  # the fix the credentials error named
    assert "renew this account's token" in by_account["202"][-1].reason
    # The first message alone, per account: a refused credential cost one request, a missing one none.
    assert len(sims["202"].request_log) == 1
    assert not sims["203"].request_log
    assert "203" not in router.built and "revoked-token" not in " ".join(row.reason for row in rows)


def test_when_every_account_stopped_the_batch_stopped(accounts: Any) -> None:
    sims = accounts(["301", "302"])
    result, rows, _ = run(records(sims, 3), Router(sims, {"301": "bad-1"}))
    assert set(result.stopped_accounts) == {"301", "302"}
    assert any(result.stopping_error is error for error in result.stopped_accounts.values())
    assert result.stopped_reason is not None and result.stopped_reason.startswith("stopped: every account stopped")
    assert {row.outcome for row in rows} == {Outcome.NOT_ATTEMPTED}


def test_one_busy_account_does_not_hold_the_threads_the_others_could_use(accounts: Any) -> None:
    sims = accounts(["401", "402", "403"], latency=0.01)
    batch = records(sims, 10)
    # 401 may send 2 requests per second (a live integration uses the rest of its limit); the others are free.
    slow = Router({"401": sims["401"]}, {"401": "token-401"}, max_requests_per_10s=20)
    fast = Router(sims, {p: f"token-{p}" for p in sims})
    router = Router(sims, {p: f"token-{p}" for p in sims})
    router.clients["401"] = slow.client_for("401")
    router.clients["402"], router.clients["403"] = fast.client_for("402"), fast.client_for("403")
    started = time.time()
    result, _, report = run(batch, router)
    assert result.stopped_reason is None and report.counts[Outcome.MARKED_FAILED.value] == 30

    def finished(portal: str) -> float:
        return float(max(entry.time for entry in sims[portal].request_log) - started)

    def rate(portal: str) -> float:
        log = sims[portal].request_log
        return float(len(log) / max(0.001, max(e.time for e in log) - min(e.time for e in log)))

    # The free accounts finish while the busy one still paces (about 9 s for 20 requests at 2/s after a small
    # burst), at many times its rate: no thread waited for 401 while 402 or 403 had work.
    assert max(finished("402"), finished("403")) < finished("401") / 2
    assert min(rate("402"), rate("403")) > 2 * rate("401")


def test_a_batch_sorted_by_account_is_served_round_robin_not_one_account_after_another(accounts: Any) -> None:
    """A batch as ``ORDER BY portal_id`` returns it: the workers' look-ahead (16 rows here) would otherwise hold one
    account only, and the task would run at one account's limit."""
    sims = accounts([str(p) for p in range(601, 609)], latency=0.01)
    batch = records(sims, 20, interleave=False)
    result, _, report = run(batch, Router(sims, {p: f"token-{p}" for p in sims}), max_concurrency=4)
    assert result.stopped_reason is None and report.counts[Outcome.MARKED_FAILED.value] == 160
    requests = sorted((entry.time, portal) for portal, sim in sims.items() for entry in sim.request_log)
    # Every account's first message goes alone, then its rows come in turn with the others'.
    assert {portal for _, portal in requests[:16]} == set(sims)
    first_half = [portal for _, portal in requests[:80]]
    assert min(first_half.count(portal) for portal in sims) >= 5, first_half


@pytest.mark.parametrize("interleave", [True, False], ids=["interleaved", "sorted-by-account"])
def test_a_killed_multi_account_batch_resumes_without_redoing_what_it_settled(
    accounts: Any, monkeypatch: pytest.MonkeyPatch, interleave: bool
) -> None:
    monkeypatch.setattr(progress, "SAVE_EVERY_ROWS", 4)
    sims = accounts(["501", "502", "503"], latency=0.03)
    batch = records(sims, 16, interleave=interleave)
    store = DictStore()
    spec = ResumeSpec(store, batch, {"mode": "stale_only"})

    class Log:
        def info(self, msg: str, *args: Any) -> None:
            pass

        def warning(self, msg: str, *args: Any) -> None:
            pass

    def attempt(kill_after: int | None) -> tuple[RunResult, Any]:
        batch_progress = progress.start(spec, log=Log(), dry_run=False)
        stop = threading.Event()

        def watch() -> None:
            while kill_after is not None and not stop.is_set():
                if sum(e.method == "PATCH" for s in sims.values() for e in s.request_log) >= kill_after:
                    stop.set()
                time.sleep(0.005)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        router = Router(sims, {p: f"token-{p}" for p in sims})
        try:
            with batch_progress:
                result = run_plan(
                    batch_progress.remaining(iter_plan(batch, POLICY)),
                    router,
                    report=batch_progress.report,
                    sink=batch_progress.sink(lambda _row: None),
                    max_concurrency=4,
                    stop=stop,
                )
        finally:
            router.close()
            stop.set()
            watcher.join()
        return result, batch_progress

    first, _ = attempt(kill_after=20)
    assert first.stopped_reason is not None
    saved = Progress.from_json(store.data[PROGRESS_KEY], positions=progress.plan_positions(batch))
    assert saved is not None and 0 < saved.covered < 48
    # The window keeps completion near the plan's order (round-robin by account, whatever the input's): few rows
    # above the watermark.
    assert len(saved.above) <= 4 * 4 + 4
    before = {p: len(s.request_log) for p, s in sims.items()}
    second, batch_progress = attempt(kill_after=None)
    assert second.stopped_reason is None and batch_progress.complete
    covered = {batch[i]["message_id"] for i in range(48) if saved.covers(i)}
    for portal, sim in sims.items():
        assert not covered & {e.path.rsplit("/", 1)[-1] for e in sim.request_log[before[portal] :]}
        assert failed(sim) == {f"{portal}-m{i}" for i in range(16)}
    assert PROGRESS_KEY not in store.data  # complete: cleared
