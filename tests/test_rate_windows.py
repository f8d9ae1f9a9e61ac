"""The rolling-window checker the distributed e2e test (and the multi-account checks) judge the simulator's log by.

Checked against real simulator log entries from real requests, and as a property against a brute-force count over
every window that starts at a request (the busiest window always starts at one).
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.rate_windows import busiest_windows, limit_breaches, refused_by_account


@dataclass(frozen=True)
class Entry:
    """The fields of the simulator's RequestLogEntry the checker reads (``hub_id`` arrives with many accounts)."""

    method: str
    path: str
    status: int | None
    time: float
    hub_id: str | int | None


API = "/conversations/custom-channels/2026-03/1001/messages/m"


def test_busiest_window_counts_the_simulators_own_log() -> None:
    with HubSpotSimulator(rate_limit=3, rate_window_seconds=60) as sim:
        sim.add_message(1001, "m")
        for _ in range(5):
            request = urllib.request.Request(
                sim.base_url + API, headers={"Authorization": f"Bearer {sim.access_token}"}
            )
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except urllib.error.HTTPError as exc:
                assert exc.code == 429
        log = sim.request_log
    # Five requests reached the account's API: three answered, two refused. Whatever account the log names (the
    # simulator's default account before many accounts exist, when entries have no hub_id), all five count.
    busiest = busiest_windows(log, window=60)
    assert [w.requests for w in busiest.values()] == [5]
    assert list(refused_by_account(log).values()) == [2]
    (breach,) = limit_breaches(log, limit=3, window=60)
    assert breach.requests == 5 and breach.limit == 3
    assert limit_breaches(log, limit=5, window=60) == []
    assert json.dumps([b.describe() for b in limit_breaches(log, limit=4, window=60)])


def test_token_endpoint_and_simulator_control_paths_do_not_count() -> None:
    log = [
        Entry("POST", "/oauth/2026-03/token", 200, 0.0, "7"),
        Entry("POST", "/oauth/v1/token", 400, 0.1, None),
        Entry("GET", "/_simulator/accounts", 200, 0.2, None),
        Entry("GET", API, 200, 0.3, "7"),
        Entry("GET", API, None, 0.4, "7"),  # dropped without an answer: it still reached the account
        Entry("GET", API, 401, 0.5, None),  # a token no account issued: no account's budget
    ]
    assert {k: w.requests for k, w in busiest_windows(log, window=10).items()} == {"7": 2}


def test_a_request_exactly_one_window_later_is_in_the_next_window() -> None:
    log = [Entry("GET", API, 200, t, 1) for t in (0.0, 5.0, 10.0)]
    assert busiest_windows(log, window=10)["1"].requests == 2
    assert busiest_windows(log, window=10.001)["1"].requests == 3


def brute_force(times: list[float], window: float) -> int:
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["1", "2", 3, None]), st.integers(0, 400).map(lambda t: t / 10)),
        max_size=60,
    ),
    st.sampled_from([1.0, 2.5, 10.0]),
    st.integers(1, 8),
)
def test_busiest_window_and_breaches_match_a_brute_force_count(
    requests: list[tuple[str | int | None, float]], window: float, limit: int
) -> None:
    log = [Entry("PATCH", API, 200, t, hub) for hub, t in requests]
    busiest = busiest_windows(log, window=window)
    by_account: dict[str, list[float]] = {}
    for hub, t in requests:
        if hub is not None:  # a request no account's token authorised (a 401) is no account's
            by_account.setdefault(str(hub), []).append(t)
    assert {k: w.requests for k, w in busiest.items()} == {k: brute_force(v, window) for k, v in by_account.items()}
    for account, w in busiest.items():
        # The window reported is a real one: it holds that many of the account's requests.
        assert sum(1 for t in by_account[account] if w.start <= t < w.start + window) == w.requests
    breaches = {b.account for b in limit_breaches(log, limit=limit, window=window)}
    assert breaches == {k for k, v in by_account.items() if brute_force(v, window) > limit}
