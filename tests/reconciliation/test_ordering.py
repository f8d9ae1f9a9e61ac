"""The order a batch is taken in (``reconciliation/ordering.py``): a permutation, each account's rows in input order,
accounts in turn, and nothing about a row can make it raise."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.reconciliation import StalenessPolicy, iter_plan, iter_updates
from airflow_provider_hubspot_channels.reconciliation.ordering import ACTIVE_ACCOUNTS, plan_order, round_robin

POLICY = StalenessPolicy(timedelta(minutes=15), datetime(2026, 11, 24, 12, tzinfo=timezone.utc))
ROW = {"channel_id": 1001, "created_at": "2026-11-24T10:00:00Z"}


def reference_order(accounts: list[str | None], active: int) -> list[int]:
    """The same order, the slow obvious way: repeatedly give the next row to the account whose turn it is."""
    firsts: list[str | None] = []
    for account in accounts:
        if account not in firsts:
            firsts.append(account)
    left = {a: [i for i, b in enumerate(accounts) if b == a] for a in firsts}
    turns, waiting, order = firsts[:active], firsts[active:], []
    while turns:
        account = turns.pop(0)
        order.append(left[account].pop(0))
        if left[account]:
            turns.append(account)
        elif waiting:
            turns.append(waiting.pop(0))
    return order


@settings(max_examples=300, deadline=None)
@given(accounts=st.lists(st.sampled_from(["1", "2", "3", "4", "5", None]), max_size=60), active=st.integers(1, 6))
def test_accounts_take_turns_each_keeping_its_rows_in_order(accounts: list[str | None], active: int) -> None:
    rows = [
        {**ROW, "message_id": f"m{i}", "portal_id": a} if a else {**ROW, "message_id": f"m{i}"}
        for i, a in enumerate(accounts)
    ]
    order = plan_order(rows, active=active)
    assert sorted(order) == list(range(len(rows)))
    if len(set(accounts)) <= 1:
        assert order == list(range(len(rows)))  # one account: input order, exactly as before
    else:
        assert order == reference_order(accounts, active)
    for account in set(accounts):
        mine = [i for i in order if accounts[i] == account]
        assert mine == sorted(mine)


def test_a_batch_sorted_by_account_starts_with_one_row_of_each_account() -> None:
    rows = [{**ROW, "message_id": f"{p}-{i}", "portalId": p} for p in range(300, 310) for i in range(5)]
    order = plan_order(rows)
    assert [rows[i]["portalId"] for i in order[:10]] == list(range(300, 310))
    assert ACTIVE_ACCOUNTS >= 256


def test_round_robin_lets_the_next_stream_join_when_one_runs_out() -> None:
    assert round_robin([[1, 2, 3], [4], [5, 6]]) == [1, 4, 5, 2, 6, 3]
    assert round_robin([[1, 2, 3], [4], [5, 6]], active=2) == [1, 4, 2, 5, 3, 6]
    assert round_robin([]) == []


ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["portal_id", "portalId", "portal-id", "PortalID", "channel_id", "message_id", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(ANY, max_size=12))
def test_any_rows_are_ordered_and_every_row_is_decided_once(rows: list[Any]) -> None:
    """Whatever a row holds, the order is a permutation and both plans decide every input row exactly once."""
    order = plan_order(rows)
    assert sorted(order) == list(range(len(rows)))
    assert sorted(d.index for d in iter_plan(rows, POLICY)) == list(range(len(rows)))
    assert sorted(d.index for d in iter_updates(rows)) == list(range(len(rows)))
