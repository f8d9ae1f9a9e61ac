"""The rolling-window checker the distributed e2e test (and the multi-account checks) judge the simulator's log by.

Checked against real simulator log entries from real requests, and as a property against a brute-force count over
every window that starts at a request (the busiest window always starts at one).
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.simulator import HubSpotSimulator
from tests.rate_windows import busiest_windows, limit_breaches, message_named, misdirected, refused_by_account


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


def test_a_token_of_one_account_naming_anothers_message_is_misdirected() -> None:
    with HubSpotSimulator(rate_limit=None) as sim:
        other = sim.add_account()
        sim.add_message(1001, "mine")
        other.add_message(1001, "theirs/é")
        for token, message_id in (
            (sim.access_token, "mine"),
            (other.access_token, "theirs/é"),
            (other.access_token, "mine"),
        ):
            request = urllib.request.Request(
                sim.base_url + "/conversations/custom-channels/2026-03/1001/messages/" + quote(message_id, safe=""),
                headers={"Authorization": f"Bearer {token}"},
            )
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except urllib.error.HTTPError as exc:
                assert exc.code == 404  # the simulator hides another account's message, as HubSpot does
        log = sim.request_log
    owners = {"mine": str(sim.hub_id), "theirs/é": str(other.hub_id)}
    assert [message_named(e) for e in log] == ["mine", "theirs/é", "mine"]
    (wrong,) = misdirected(log, owners)
    assert (wrong.account, wrong.owner, wrong.message_id, wrong.status) == (
        str(other.hub_id),
        str(sim.hub_id),
        "mine",
        404,
    )


def test_requests_naming_no_message_are_not_judged_and_unknown_messages_have_no_owner() -> None:
    log = [
        Entry("POST", "/oauth/2026-03/token", 200, 0.0, "7"),
        Entry("GET", "/conversations/custom-channels/2026-03/1001", 200, 0.1, "7"),
        Entry("GET", "/conversations/v3/custom-channels/1001/messages/m%2F1", 200, 0.2, "7"),
        Entry("GET", "/conversations/custom-channels/2026-03/1001/messages/ghost", 404, 0.3, "7"),
        Entry("GET", API, 401, 0.4, None),
    ]
    assert [message_named(e) for e in log] == [None, None, "m/1", "ghost", "m"]
    wrong = misdirected(log, {"m/1": "7", "m": "7"})
    assert [(w.message_id, w.account, w.owner) for w in wrong] == [("ghost", "7", None), ("m", None, "7")]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=12), st.sampled_from(["1", "2", None])), max_size=30),
    st.dictionaries(st.text(min_size=1, max_size=12), st.sampled_from(["1", "2"]), max_size=10),
    st.sampled_from(["/conversations/custom-channels/2026-03/", "/conversations/v3/custom-channels/"]),
)
def test_misdirected_is_every_request_whose_token_account_is_not_the_messages_owner(
    requests: list[tuple[str, str | None]], owners: dict[str, str], prefix: str
) -> None:
    # Any message id (slashes, spaces, non-ASCII) as the client sends it: one percent-quoted path segment.
    log = [Entry("PATCH", f"{prefix}1001/messages/{quote(mid, safe='')}", 200, 0.0, hub) for mid, hub in requests]
    assert [message_named(e) for e in log] == [mid for mid, _ in requests]
    expected = [(mid, hub) for mid, hub in requests if owners.get(mid) != hub or hub is None]
    assert [(w.message_id, w.account) for w in misdirected(log, owners)] == expected


def test_a_window_is_not_shortened_by_float_rounding() -> None:
    # The property found it in a fresh-clone run: 1.2 - 1.0 is 0.19999999999999996, so 0.2 and 1.2 were counted in
    # one 1 s window although [0.2, 1.2) does not hold 1.2.
    log = [Entry("PATCH", API, 200, t, "1") for t in (0.2, 1.2)]
    assert busiest_windows(log, window=1.0)["1"].requests == 1
